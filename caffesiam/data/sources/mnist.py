"""The MNIST family: where Fashion-MNIST lives, class names, and a checksum-verified download."""

import hashlib
import os
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from caffesiam.errors import CaffesiamError, DatasetError
from caffesiam.files import cache_dir

FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
MNIST_CLASSES = [str(d) for d in range(10)]
FASHION_CLASSES = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
]

# The MD5 sums that torchvision and most MNIST loaders check against.
MNIST_MD5 = {
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}
# Tried in order; $CAFFESIAM_MNIST_MIRRORS (space separated) replaces the list.
MNIST_MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)


def mnist_cache_dir() -> Path:
    """mnist/ in caffesiam's cache (files.cache_dir)."""
    return cache_dir() / "mnist"


def mnist_mirrors() -> Sequence[str]:
    """Mirror base URLs in the order they are tried."""
    env = os.environ.get("CAFFESIAM_MNIST_MIRRORS")
    return env.split() if env else MNIST_MIRRORS


def fetch_mnist(
    cache: Path | None = None,
    mirrors: Sequence[str] | None = None,
    checksums: dict | None = None,
    timeout: float = 30,
) -> Path:
    """Directory holding the checksum-verified MNIST files; downloads only what is missing."""
    cache = Path(cache) if cache else mnist_cache_dir()
    mirrors = list(mirrors) if mirrors else list(mnist_mirrors())
    try:
        cache.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise DatasetError(f"cannot create the MNIST cache {cache}: {e.strerror}") from e
    for name, md5 in (checksums or MNIST_MD5).items():
        target = cache / name
        if target.is_file() and _md5(target.read_bytes()) == md5:
            continue
        target.write_bytes(_download_verified(name, md5, mirrors, timeout))
    return cache


def _download_verified(name, md5, mirrors, timeout) -> bytes:
    failures = []
    for base in mirrors:
        url = base.rstrip("/") + "/" + name
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response:
                data = response.read()
        except (OSError, ValueError) as e:  # URLError and HTTPError are OSErrors
            failures.append(f"{url}: {e}")
            continue
        if _md5(data) == md5:
            return data
        failures.append(f"{url}: checksum mismatch")
    raise CaffesiamError(
        f"could not download {name} from any mirror ({'; '.join(failures)}); "
        f"pass --source DIR with the MNIST files instead"
    )


def _md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()
