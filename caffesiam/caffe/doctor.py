"""What is installed and where: each check returns a Finding, nothing is printed here."""

import os
import re
import shutil
from dataclasses import dataclass
from typing import Callable, List, Optional

from caffesiam.caffe import locate, runner


@dataclass
class Finding:
    name: str
    ok: bool
    detail: str
    required: bool = True
    fix: Optional[str] = None


SETUP = "make setup"


def _check(name: str, probe: Callable[[], str], required: bool = True, fix: str = SETUP) -> Finding:
    try:
        return Finding(name, True, probe(), required)
    except Exception as e:  # a doctor reports every failure as a finding
        return Finding(name, False, str(e) or type(e).__name__, required, fix)


def _caffe_binary() -> str:
    binary = locate.caffe_binary()
    out = runner.capture([binary, "--version"], timeout=30).stdout.strip()
    if "caffe version" not in out:
        raise OSError(f"{binary} --version printed {out!r}")
    return f"{out.split()[-1]} at {binary}"


def _pycaffe() -> str:
    import caffe  # noqa: F401  (the import is the check)

    return f"imports from {os.path.dirname(caffe.__file__)}"


def _caffe_pb2() -> str:
    from caffesiam.caffe.proto import caffe_pb2

    return str(caffe_pb2().__file__)


def _protobuf() -> str:
    from google.protobuf import __version__
    from google.protobuf.internal import api_implementation

    return f"{__version__} ({api_implementation.Type()} backend)"


def _blas() -> str:
    lib = locate.caffe_home() / "lib" / "libcaffe.so"
    out = runner.capture(["ldd", str(lib)], timeout=30).stdout
    found = re.findall(r"lib(openblas|blas|mkl\w*|atlas)[\w.-]*\.so[\w.]* => (\S+)", out)
    if not found:
        raise OSError(f"no BLAS library linked into {lib}")
    return ", ".join(f"{name} ({path})" for name, path in found)


def _plyvel() -> str:
    import plyvel

    return f"plyvel {plyvel.__version__}, LevelDB {plyvel.__leveldb_version__}"


def _lmdb() -> str:
    import lmdb

    return f"py-lmdb {lmdb.__version__}, LMDB {'.'.join(map(str, lmdb.version()))}"


def _version_of(program: str, package: str, *args: str) -> Callable[[], str]:
    def probe() -> str:
        path = runner.require(program, package)
        out = runner.capture([path, *args], timeout=30).stdout.strip().splitlines()
        return f"{out[0] if out else '?'} ({path})"

    return probe


def _gpus() -> str:
    path = shutil.which("nvidia-smi")
    if path is None:
        raise OSError("none visible (no nvidia-smi)")
    out = runner.capture([path, "-L"], timeout=30)
    gpus = [line for line in out.stdout.splitlines() if line.startswith("GPU")]
    if out.returncode != 0 or not gpus:
        raise OSError("none visible")
    return "; ".join(gpus)


def run_checks() -> List[Finding]:
    """Every check, required ones first."""
    return [
        _check("caffe binary", _caffe_binary),
        _check("caffe_pb2 (standalone)", _caffe_pb2),
        _check("pycaffe", _pycaffe),
        _check("protobuf runtime", _protobuf),
        _check("BLAS", _blas),
        _check("LevelDB", _plyvel),
        _check("LMDB", _lmdb),
        _check("Graphviz", _version_of("dot", "graphviz", "-V"), required=False,
               fix="apt-get install graphviz (needed by 'caffesiam draw')"),
        _check("docker client", _version_of("docker", "docker.io", "--version"), required=False,
               fix="install the docker client (needed by 'train --docker')"),
        _check("GPUs", _gpus, required=False, fix="only needed for GPU training (--gpu, --docker)"),
    ]
