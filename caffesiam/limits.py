"""How much an input may ask of the machine, and what the machine has: one home for every bound.

Bounds sit far above any real use and far below what would exhaust a machine, so a hostile or
mistaken input stops with one line instead of a MemoryError, a RecursionError or a full disk.
"""

import os
from pathlib import Path

from caffesiam.errors import BadInput

MiB = 1 << 20
GiB = 1 << 30

# Specs, nets and solvers: Caffe's largest zoo prototxts are about 200 KB.
TEXT_BYTES = 64 * MiB
# Pair lists: about five million 'path1 path2 label' lines.
PAIR_LIST_BYTES = 256 * MiB
# Files caffesiam writes and reads back (sweep, point and task state, usage, evaluation reports,
# manifests): a 100,000-point sweep.json is about 10 MB.
STATE_BYTES = 64 * MiB
# Nesting of their JSON; the deepest caffesiam writes is 4 (sweep.json's Slurm jobs).
STATE_DEPTH = 64
# .caffemodel and .solverstate: protobuf (and Caffe's patched reader) stop at 2 GiB.
PROTO_BYTES = 2 * GiB
# A log line longer than this is not one Caffe wrote; only its start is parsed.
LOG_LINE_CHARS = 64 * 1024
# Nesting of YAML collections; a spec needs 4 (tower, layer, *_param, a shape).
YAML_DEPTH = 64
# Values the spec converter may visit (aliases count every time they are used); a
# 1,000-layer spec has about 30,000.
SPEC_VALUES = 1_000_000
# Points in one sweep (its grid's combinations and its listed points): each is a run directory
# with its nets, and Slurm's default MaxArraySize is 1001.
SWEEP_POINTS = 10_000
# Characters in a name that becomes part of a path or a script (files.safe_name).
NAME_CHARS = 100
# Signed and unsigned 32-bit limits of Caffe's int32 / uint32 protobuf fields.
INT32_MAX = 2**31 - 1
UINT32_MAX = 2**32 - 1
# train --blas-threads; OpenBLAS's own ceiling (MAX_CPU_NUMBER) is lower still.
BLAS_THREADS_MAX = 1024
# inspect-db --show rows of pairs in one picture; matplotlib's 65,536-pixel limit is near 546.
SHOW_MAX = 100
# Jitter: a rotation past 180 degrees repeats one within it, a shift past 1,000 px leaves the frame.
JITTER_MAX = {"shift": 1000.0, "rotate": 180.0, "scale": 1.0}
# Pairs evaluate needs: the best threshold is chosen on one half and scored on the other.
MIN_PAIRS = 2
# Seconds a spec or net read from a pipe (a FIFO, <(...), stdin) may go without a byte or its end.
PIPE_WAIT_S = 5
# Seconds doctor's probes (a tool's --version, ldd, nvidia-smi -L) may take; they answer at once.
PROBE_TIMEOUT_S = 30
# Seconds sbatch may take to submit a sweep's job array.
SUBMIT_TIMEOUT_S = 120
# Seconds a child that loads a net may take: pycaffe's shape and weight checks, `caffe time`.
NET_CHILD_TIMEOUT_S = 300
# Seconds a caffesiam command that writes a sweep point's net or solver may take.
GENERATE_TIMEOUT_S = 300
# Seconds any other short command (squeue, sacct) may take.
COMMAND_TIMEOUT_S = 60


def size_text(n: float) -> str:
    """Bytes in the largest unit that keeps a number >= 1 (1.5 GB, 300 MB, 12 KB)."""
    for unit in ("B", "KB", "MB", "GB", "TB", "PB"):
        if abs(n) < 1000 or unit == "PB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} PB"


def available_memory() -> int:
    """Bytes the kernel says can be allocated without swapping (MemAvailable), else physical RAM."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def free_space(path) -> int:
    """Free bytes for an unprivileged writer on the filesystem that holds `path` (or would)."""
    existing = Path(os.path.abspath(path))
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    stats = os.statvfs(existing)
    return stats.f_bavail * stats.f_frsize


def require_memory(needed: int, what: str):
    """BadInput when `what` needs more memory than is available now."""
    have = available_memory()
    if needed > have:
        raise BadInput(
            f"{what} needs {size_text(needed)} of memory; this machine has "
            f"{size_text(have)} available"
        )


def require_space(path, needed: int, what: str):
    """BadInput when `what` needs more disk than is free where `path` goes."""
    have = free_space(path)
    if needed > have:
        raise BadInput(
            f"{what} needs {size_text(needed)} of disk; {size_text(have)} is free where {path} goes"
        )
