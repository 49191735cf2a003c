"""Image files -> ImageSet: one sub-folder per class, each file decoded once, on all cores."""

import errno
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from caffesiam.data.sources.imageset import ImageSet
from caffesiam.errors import DatasetError
from caffesiam.limits import require_memory

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".pgm"}
CHUNK = 64  # images per task: amortises inter-process traffic


def scan_class_folders(root) -> tuple[list[Path], np.ndarray, list[str]]:
    """(image paths, labels, class names) for ROOT/<class>/<image>, sorted for reproducibility."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"{root}: no such directory")
    # os.scandir's entries know their type from the directory listing: no stat per image file
    with os.scandir(root) as entries:
        classes = sorted(e.name for e in entries if _is(e, "dir") and not e.name.startswith("."))
    if not classes:
        raise DatasetError(f"{root}: no class sub-folders (expected ROOT/<class>/<image files>)")
    paths, labels = [], []
    for label, name in enumerate(classes):
        folder = root / name
        with os.scandir(folder) as entries:
            names = sorted(
                e.name
                for e in entries
                if os.path.splitext(e.name)[1].lower() in IMAGE_SUFFIXES and _is(e, "file")
            )
        files = [folder / n for n in names]
        paths += files
        labels += [label] * len(files)
    if not paths:
        raise DatasetError(f"{root}: the class sub-folders hold no JPEG, PNG, BMP or PGM files")
    return paths, np.asarray(labels, dtype=np.int64), classes


def _is(entry: os.DirEntry, kind: str) -> bool:
    """Whether `entry` is a "dir" or a "file" (through links; a dangling link is neither); a
    link loop, or a link that cannot be followed, is a DatasetError naming it."""
    try:
        return entry.is_dir() if kind == "dir" else entry.is_file()
    except OSError as e:
        what = "a symbolic link loop" if e.errno == errno.ELOOP else "cannot be followed"
        raise DatasetError(
            f"{entry.path}: {what} ({e.strerror}); remove it or point it at a real "
            + ("class folder" if kind == "dir" else "image file")
        ) from e


def load_image_folder(root, size=None, gray=True, strict=False, progress=None) -> ImageSet:
    """Decode every image under ROOT/<class>/; corrupt files are skipped (counted) unless strict."""
    paths, labels, classes = scan_class_folders(root)
    images, ok = decode_images(paths, size, gray, strict, progress)
    return ImageSet(images, labels[ok], str(root), classes, skipped=int((~ok).sum()))


def decode_images(
    paths: Sequence[Path],
    size: tuple[int, int] | None = None,
    gray=True,
    strict=False,
    progress: Callable[[int], None] | None = None,
):
    """(uint8 N x C x H x W of the readable images, boolean mask of which paths were readable).

    The decoded images must fit in memory: checked before decoding when `size` is given, else
    when the first image shows their size.
    """
    if size:
        _require_memory_for(len(paths), (1 if gray else 3, size[1], size[0]))
    images = None
    ok = np.zeros(len(paths), dtype=bool)
    n_kept = 0
    for index, result in enumerate(_decode_all(paths, size, gray)):
        if progress:
            progress(1)
        if isinstance(result, str):
            if strict:
                raise DatasetError(f"{paths[index]}: cannot decode ({result})")
            continue
        if images is None:  # the first image fixes the shape; fill in place, no second copy
            _require_memory_for(len(paths), result.shape)
            images = np.empty((len(paths),) + result.shape, dtype=np.uint8)
        elif result.shape != images.shape[1:]:
            raise DatasetError(
                f"{paths[index]}: size {_wxh(result)} differs from "
                f"{_wxh(images[0])}; pass --size WxH to resize all images"
            )
        images[n_kept] = result
        ok[index] = True
        n_kept += 1
    if images is None:
        raise DatasetError(f"none of the {len(paths)} image files could be decoded")
    return images[:n_kept], ok


def _require_memory_for(n: int, shape):
    require_memory(
        n * shape[0] * shape[1] * shape[2],
        f"{n:,} images of {shape[2]}x{shape[1]} pixels, {shape[0]} channel(s),",
    )


def _decode_all(paths, size, gray):
    jobs = [(str(p), size, gray) for p in paths]
    workers = os.cpu_count() or 1
    if workers == 1 or len(jobs) < 2 * CHUNK:
        yield from map(_decode_one, jobs)
        return
    with ProcessPoolExecutor(workers) as pool:
        yield from pool.map(_decode_one, jobs, chunksize=CHUNK)


def _decode_one(job):
    """C x H x W uint8 array, or the error text for a file Pillow cannot read."""
    path, size, gray = job
    try:
        with Image.open(path) as img:
            img = img.convert("L" if gray else "RGB")
            if size and img.size != tuple(size):
                img = img.resize(tuple(size), Image.BILINEAR)
            array = np.asarray(img)
    except (OSError, UnidentifiedImageError, ValueError, SyntaxError) as e:
        return str(e) or type(e).__name__
    return array[None] if gray else array.transpose(2, 0, 1)


def _wxh(image) -> str:
    return f"{image.shape[2]}x{image.shape[1]}"
