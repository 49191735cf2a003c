"""Where the Caffe that scripts/install_caffe.sh built lives: binary, pycaffe, caffe_pb2, source."""

import os
import shutil
import sys
from pathlib import Path

from caffesiam.errors import CaffeNotFound

SETUP_HINT = "run 'make setup' in the caffesiam checkout"


def caffe_home() -> Path:
    """The Caffe install prefix: $CAFFESIAM_CAFFE_HOME, else the venv's 'caffe' link."""
    env = os.environ.get("CAFFESIAM_CAFFE_HOME")
    home = Path(env) if env else Path(sys.prefix) / "caffe"
    if not (home / "bin" / "caffe").exists():
        raise CaffeNotFound(f"no Caffe install at {home}; {SETUP_HINT}")
    return home.resolve()


def caffe_binary() -> str:
    """Path of the `caffe` executable: the installed one, else the first on PATH."""
    try:
        return str(caffe_home() / "bin" / "caffe")
    except CaffeNotFound:
        found = shutil.which("caffe")
        if found:
            return found
        raise


def caffe_source() -> Path:
    """The downloaded Caffe source subset (examples/, models/, python/, tools/)."""
    src = caffe_home() / "src"
    if not (src / "examples").is_dir():
        raise CaffeNotFound(f"the Caffe source examples are missing under {src}; {SETUP_HINT}")
    return src


def caffe_pb2_file() -> Path:
    """The standalone caffe_pb2.py that protoc generated at setup."""
    return caffe_home() / "proto" / "caffe_pb2.py"


def layer_types():
    """Caffe's layer registry as recorded at setup (layer_types.txt), or None if unknown."""
    try:
        path = caffe_home() / "layer_types.txt"
        return frozenset(path.read_text().split())
    except (CaffeNotFound, OSError):
        return None


def is_cpu_only_build() -> bool:
    """True for a CPU_ONLY Caffe build (read from the CaffeConfig.cmake it installed)."""
    try:
        config = (caffe_home() / "share" / "Caffe" / "CaffeConfig.cmake").read_text()
    except (CaffeNotFound, OSError):
        return True
    return "set(Caffe_CPU_ONLY ON)" in config
