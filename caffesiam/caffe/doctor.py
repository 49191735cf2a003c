"""What is installed and where: each check returns a Finding, nothing is printed here."""

import os
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from importlib.metadata import PackageNotFoundError

from caffesiam.caffe import cuda_libs, locate, platform, runner
from caffesiam.limits import PROBE_TIMEOUT_S


@dataclass
class Finding:
    name: str
    ok: bool
    detail: str
    required: bool = True
    fix: str | None = None


SETUP = "make setup"
# What a proto-only install (make setup-docker: caffe_pb2, no Caffe build) can and cannot run.
WORKS_WITHOUT_BUILD = (
    "gen-net, gen-solver, draw, build-db, inspect-db, plot-log, train --docker IMAGE"
)
NEEDS_BUILD = "train without --docker, evaluate, embed"


def _check(name: str, probe: Callable[[], str], required: bool = True, fix: str = SETUP) -> Finding:
    try:
        return Finding(name, True, probe(), required)
    except Exception as e:  # a doctor reports every failure as a finding
        return Finding(name, False, str(e) or type(e).__name__, required, fix)


def _caffe_binary() -> str:
    binary = locate.caffe_binary()
    out = runner.capture([binary, "--version"], timeout=PROBE_TIMEOUT_S).stdout.strip()
    if "caffe version" not in out:
        raise OSError(f"{binary} --version printed {out!r}")
    return f"{out.split()[-1]} at {binary}"


def _pycaffe() -> str:
    import caffe  # the import is the check

    found = os.path.realpath(os.path.dirname(caffe.__file__))
    built = os.path.realpath(locate.caffe_home() / "python" / "caffe")
    if found != built:  # the venv's pycaffe, with CAFFESIAM_CAFFE_HOME naming another build
        return f"imports from {found}, not from the build of the caffe binary ({built})"
    return f"imports from {found}"


def _caffe_pb2() -> str:
    from caffesiam.caffe.proto import caffe_pb2

    return str(caffe_pb2().__file__)


def _protobuf() -> str:
    from google.protobuf import __version__
    from google.protobuf.internal import api_implementation

    return f"{__version__} ({api_implementation.Type()} backend)"


@cache
def _libcaffe_ldd():
    """(libcaffe.so, what ldd says it links): the libraries the build loads, as resolved here."""
    lib = locate.caffe_home() / "lib" / "libcaffe.so"
    return lib, runner.capture(["ldd", str(lib)], timeout=PROBE_TIMEOUT_S).stdout


def _blas() -> str:
    lib, out = _libcaffe_ldd()
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
        out = runner.capture([path, *args], timeout=PROBE_TIMEOUT_S).stdout.strip().splitlines()
        return f"{out[0] if out else '?'} ({path})"

    return probe


def _cuda() -> str:
    lib, out = _libcaffe_ldd()
    return cuda_libs.describe(out, str(lib))


def _gpus() -> str:
    path = shutil.which("nvidia-smi")
    if path is None:
        raise OSError("none visible (no nvidia-smi)")
    out = runner.capture([path, "-L"], timeout=PROBE_TIMEOUT_S)
    gpus = [line for line in out.stdout.splitlines() if line.startswith("GPU")]
    if out.returncode != 0 or not gpus:
        raise OSError("none visible")
    return "; ".join(gpus)


def _system() -> Finding:
    name, checked = platform.system_release()
    if checked:
        return Finding("system", True, f"{name}, checked in CI")
    return Finding(
        "system",
        False,
        f"{name}: not checked in CI ({_checked_names()} are)",
        required=False,
        fix="see docs/install.md, supported platforms",
    )


def _checked_names() -> str:
    return " and ".join(f"Debian {v} ({c})" for v, c in platform.CHECKED_RELEASES.items())


def _python() -> Finding:
    try:
        detail, problem = platform.this_python()
    except (ValueError, PackageNotFoundError) as e:
        return Finding("Python", False, f"cannot read caffesiam's supported range: {e}")
    if problem is None:
        return Finding("Python", True, detail)
    return Finding(
        "Python",
        False,
        f"{detail}: {problem}",
        fix="set up with a supported interpreter: bash scripts/setup.sh --python python3.X "
        "(docs/install.md)",
    )


def _no_build(name: str, fix: str | None = None) -> Finding:
    return Finding(
        name, False, "none: a proto-only install (make setup-docker)", required=False, fix=fix
    )


def run_checks() -> list[Finding]:
    """Every check, required ones first. A proto-only install has no build to check, and needs
    the docker client instead (it trains only in an image)."""
    proto_only = locate.is_proto_only()
    # Before pycaffe's import, which would put its own caffe_pb2 in the standalone one's place.
    caffe_pb2 = _check("caffe_pb2 (standalone)", _caffe_pb2)
    if proto_only:
        binary, pycaffe, blas, cuda = (
            _no_build("caffe binary", f"{SETUP} builds Caffe (needed by {NEEDS_BUILD})"),
            _no_build("pycaffe"),
            _no_build("BLAS"),
            _no_build("CUDA, cuDNN, NCCL"),
        )
    else:
        binary, pycaffe, blas, cuda = (
            _check("caffe binary", _caffe_binary),
            _check("pycaffe", _pycaffe),
            _check("BLAS", _blas),
            _check("CUDA, cuDNN, NCCL", _cuda),
        )
    return [
        _system(),
        _python(),
        binary,
        caffe_pb2,
        pycaffe,
        _check("protobuf runtime", _protobuf),
        blas,
        cuda,
        _check("LevelDB", _plyvel),
        _check("LMDB", _lmdb),
        _check(
            "Graphviz",
            _version_of("dot", "graphviz", "-V"),
            required=False,
            fix="apt-get install graphviz (needed by 'caffesiam draw')",
        ),
        _check(
            "docker client",
            _version_of("docker", "docker.io", "--version"),
            required=proto_only,
            fix="install the docker client (needed by 'train --docker')",
        ),
        _check("GPUs", _gpus, required=False, fix="only needed for GPU training (--gpu, --docker)"),
    ]
