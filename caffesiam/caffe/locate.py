"""Where the Caffe that scripts/install_caffe.sh built lives: binary, pycaffe, caffe_pb2, source.

A proto-only install (install_caffe.sh --proto-only, `make setup-docker`) holds caffe_pb2 and
the layer registry but no build: enough for gen-net, draw, build-db and `train --docker`.
"""

import os
import shutil
import sys
from pathlib import Path

from caffesiam.errors import CaffeNotFound

SETUP_HINT = "run 'make setup' in the caffesiam checkout"
PROTO_ONLY_MARK = ".proto-only"  # written by install_caffe.sh --proto-only


def _prefix_path() -> Path:
    env = os.environ.get("CAFFESIAM_CAFFE_HOME")
    return Path(env) if env else Path(sys.prefix) / "caffe"


def _is_proto_only(home: Path) -> bool:
    return (home / PROTO_ONLY_MARK).is_file() and (home / "proto" / "caffe_pb2.py").is_file()


def caffe_prefix() -> Path:
    """The install prefix, a build or a proto-only one: $CAFFESIAM_CAFFE_HOME, else the venv's
    'caffe' link."""
    home = _prefix_path()
    if not ((home / "bin" / "caffe").exists() or _is_proto_only(home)):
        raise CaffeNotFound(f"no Caffe install at {home}; {SETUP_HINT}")
    return home.resolve()


def is_proto_only() -> bool:
    """True when the install is caffe_pb2 alone (no Caffe binary, no pycaffe)."""
    return not (_prefix_path() / "bin" / "caffe").exists() and _is_proto_only(_prefix_path())


def caffe_home() -> Path:
    """The prefix of a Caffe build (binary, libcaffe, pycaffe); CaffeNotFound for a proto-only
    one."""
    home = caffe_prefix()
    if not (home / "bin" / "caffe").exists():
        raise CaffeNotFound(
            f"{home} holds caffe_pb2 only (make setup-docker): no Caffe build to run "
            f"here; {SETUP_HINT}, or train in an image (train --docker IMAGE)"
        )
    return home


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
    return caffe_prefix() / "proto" / "caffe_pb2.py"


def layer_types():
    """Caffe's layer registry as recorded at setup (layer_types.txt), or None if unknown."""
    try:
        path = caffe_prefix() / "layer_types.txt"
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
