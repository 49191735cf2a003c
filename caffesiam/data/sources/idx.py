"""MNIST-format IDX files (gzipped or raw) -> ImageSet: the reader and the split finder."""

import math
from pathlib import Path

import numpy as np
from isal import igzip  # ISA-L's gzip: inflates Fashion-MNIST's 26 MB of images in half zlib's time
from isal.isal_zlib import error as IsalError

from caffesiam.data.sources.imageset import ImageSet
from caffesiam.data.sources.mnist import MNIST_CLASSES
from caffesiam.errors import DatasetError
from caffesiam.limits import require_memory

IMAGES_MAGIC = 0x00000803  # unsigned byte, 3 dimensions
LABELS_MAGIC = 0x00000801  # unsigned byte, 1 dimension

SPLIT_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}

READ_CHUNK = 1 << 20  # gzip's readinto inflates a whole request into a temporary bytes first


def read_idx(path, magic: int) -> np.ndarray:
    """The uint8 array stored in an IDX file (gzip detected by content), shape from its header.

    Streams into one preallocated array, so peak memory is the decoded size alone.
    """
    path = Path(path)
    try:
        if not _is_gzip(path):
            return _map_idx(path, magic)
        with igzip.open(path, "rb") as f:
            return _read_idx_stream(f, path, magic)
    except FileNotFoundError as e:
        raise DatasetError(f"{path}: no such file") from e
    except (OSError, EOFError, IsalError) as e:
        raise DatasetError(f"{path}: cannot read ({e})") from e


def _is_gzip(path: Path) -> bool:
    with open(path, "rb") as probe:
        return probe.read(2) == b"\x1f\x8b"


def _read_header(f, path, magic):
    """The shape an IDX header promises, after checking its magic number."""
    ndim = magic & 0xFF
    head = f.read(4)
    if len(head) < 4 or int.from_bytes(head, "big") != magic:
        found = f"{int.from_bytes(head, 'big'):#010x}" if len(head) == 4 else "none"
        raise DatasetError(f"{path}: wrong IDX magic number {found}, expected {magic:#010x}")
    dims = f.read(4 * ndim)
    if len(dims) < 4 * ndim:
        raise DatasetError(f"{path}: truncated IDX header")
    return tuple(int.from_bytes(dims[4 * k : 4 * k + 4], "big") for k in range(ndim))


def _map_idx(path: Path, magic) -> np.ndarray:
    """An uncompressed IDX file mapped read-only: no copy, pages shared with the file cache."""
    with open(path, "rb") as f:
        shape = _read_header(f, path, magic)
        offset = f.tell()
    size = math.prod(shape)  # Python ints: a hostile header cannot overflow int64 here
    available = path.stat().st_size - offset
    if available < size:
        raise DatasetError(f"{path}: truncated: {available} data bytes, header promises {size}")
    if size == 0:  # mmap refuses an empty range
        return np.empty(shape, dtype=np.uint8)
    return np.memmap(path, dtype=np.uint8, mode="r", offset=offset, shape=shape)


def _read_idx_stream(f, path, magic) -> np.ndarray:
    shape = _read_header(f, path, magic)
    require_memory(math.prod(shape), f"{path}: its IDX header's {'x'.join(map(str, shape))} bytes")
    array = np.empty(shape, dtype=np.uint8)
    view, filled = memoryview(array.reshape(-1)), 0
    while filled < array.size:
        got = f.readinto(view[filled : filled + READ_CHUNK])
        if not got:
            raise DatasetError(
                f"{path}: truncated: {filled} data bytes, header promises {array.size}"
            )
        filled += got
    return array


def read_idx_split(images_path, labels_path, class_names=MNIST_CLASSES) -> ImageSet:
    """One split: images (N x 1 x H x W) and labels, checked to have the same count."""
    images = read_idx(images_path, IMAGES_MAGIC)
    labels = read_idx(labels_path, LABELS_MAGIC)
    if len(images) != len(labels):
        raise DatasetError(
            f"{images_path} holds {len(images)} images but {labels_path} holds {len(labels)} labels"
        )
    return ImageSet(
        images[:, None], labels.astype(np.int64), str(Path(images_path).parent), list(class_names)
    )


def find_split_files(source, split: str):
    """(images, labels) paths of `split` under `source`, gzipped or not."""
    source = Path(source)
    if not source.is_dir():
        raise DatasetError(f"{source}: no such directory")
    found = []
    for stem in SPLIT_FILES[split]:
        candidates = [source / stem, source / f"{stem}.gz"]
        path = next((p for p in candidates if p.is_file()), None)
        if path is None:
            raise DatasetError(f"{source}: missing {stem}[.gz]")
        found.append(path)
    return tuple(found)


def load_idx_dir(source, split: str, class_names=MNIST_CLASSES) -> ImageSet:
    """One split read from a directory of MNIST-format files."""
    return read_idx_split(*find_split_files(source, split), class_names=class_names)
