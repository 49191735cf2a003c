"""The CUDA runtime, cuDNN and NCCL that a Caffe build links, as the loader resolves them (ldd
output), and their versions, asked of the libraries themselves: each has a version call that
needs no GPU and no driver (cudaRuntimeGetVersion, cudnnGetVersion, ncclGetVersion)."""

import ctypes
import re
from collections.abc import Callable
from typing import NamedTuple

_LDD_LINE = re.compile(
    r"^\s*(lib([A-Za-z0-9_]+)\.so[.\d]*)\s+=>\s+(.+?)(?:\s+\(0x[0-9a-f]+\))?\s*$"
)


def _cuda(v: int) -> str:
    return f"{v // 1000}.{v % 1000 // 10}"  # CUDART_VERSION: 12040 is 12.4


def _cudnn(v: int) -> str:
    # CUDNN_VERSION: major*10000 + minor*100 + patch from cuDNN 9 (90100),
    # major*1000 + ... before (8907)
    major, rest = (v // 10000, v % 10000) if v >= 90000 else (v // 1000, v % 1000)
    return f"{major}.{rest // 100}.{rest % 100}"


def _nccl(v: int) -> str:
    # NCCL_VERSION_CODE: major*10000 + minor*100 + patch from 2.9 (22105),
    # major*1000 + ... before (2804)
    major, rest = (v // 10000, v % 10000) if v >= 10000 else (v // 1000, v % 1000)
    return f"{major}.{rest // 100}.{rest % 100}"


class CudaLib(NamedTuple):
    label: str
    stem: str  # libSTEM.so.N
    version_call: str
    returns_version: bool  # the call returns the version (cuDNN) instead of filling an int*
    show: Callable[[int], str]


LIBS = (
    CudaLib("CUDA runtime", "cudart", "cudaRuntimeGetVersion", False, _cuda),
    CudaLib("cuDNN", "cudnn", "cudnnGetVersion", True, _cudnn),
    CudaLib("NCCL", "nccl", "ncclGetVersion", False, _nccl),
)


def linked(ldd_output: str) -> dict[str, tuple[str, str | None]]:
    """{stem: (soname, path, or None where ldd says 'not found')} for every library ldd lists."""
    found = {}
    for line in ldd_output.splitlines():
        match = _LDD_LINE.match(line)
        if match:
            soname, stem, where = match.groups()
            found.setdefault(stem, (soname, None if where == "not found" else where))
    return found


def library_version(lib: CudaLib, path: str) -> str:
    """The version the library at `path` reports; OSError if it cannot be loaded or asked."""
    try:
        call = getattr(ctypes.CDLL(path), lib.version_call)
    except AttributeError:
        raise OSError(f"{path} has no {lib.version_call}") from None
    if lib.returns_version:
        call.restype = ctypes.c_size_t
        return lib.show(int(call()))
    value = ctypes.c_int(0)
    status = call(ctypes.byref(value))
    if status != 0:
        raise OSError(f"{lib.version_call} in {path} returned status {status}")
    return lib.show(value.value)


def describe(ldd_output: str, where: str, version_of=library_version) -> str:
    """'CPU only' for a build that links no CUDA runtime, else each library, its version and path;
    OSError naming a library the build links but the loader cannot find."""
    libs = linked(ldd_output)
    if "cudart" not in libs:
        return "CPU only (links no CUDA runtime)"
    parts: list[str] = []
    for lib in LIBS:
        if lib.stem not in libs:
            parts.append(f"{lib.label}: not linked")
            continue
        soname, path = libs[lib.stem]
        if path is None:
            raise OSError(f"{where} links {soname}, which the loader cannot find (ldd: not found)")
        parts.append(f"{lib.label} {version_of(lib, path)} ({path})")
    return "; ".join(parts)
