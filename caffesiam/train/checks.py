"""The values `train` is given, checked before anything is read (pure): GPU ids, a Docker image
name, a CPU thread count. Each returns the value or raises BadInput."""

import re

from caffesiam.errors import BadInput
from caffesiam.limits import BLAS_THREADS_MAX

_IMAGE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/:@+-]*")


def check_gpu_ids(value: str) -> str:
    """An id (0), a list (0,1) or 'all', as `caffe train -gpu` takes them."""
    if value == "all" or all(part.isdigit() for part in value.split(",")):
        return value
    raise BadInput("use an id (0), a list (0,1) or 'all'")


def check_image_name(value: str) -> str:
    """An image reference as docker takes it; never anything docker would read as an option."""
    if _IMAGE.fullmatch(value):
        return value
    raise BadInput(
        f"{value!r} is not an image name (e.g. caffesiam:cpu, registry.example.org/caffesiam:gpu)"
    )


def check_blas_threads(value: str) -> str:
    """'auto' or a thread count from 1 to BLAS_THREADS_MAX."""
    if value == "auto" or (value.isdigit() and 1 <= int(value) <= BLAS_THREADS_MAX):
        return value
    raise BadInput(f"'auto' or a number from 1 to {BLAS_THREADS_MAX}")
