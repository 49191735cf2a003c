"""Pick OpenBLAS's thread count for CPU training by measuring `caffe time`, not by guessing.

Caffe calls many small GEMMs, where OpenBLAS's threads can cost more than they give. The
result is cached per net text and core count, so only the first run of a net pays for it.
"""

import hashlib
import json
import os
import re
from pathlib import Path
from typing import Dict, Optional, Tuple

from caffesiam import runner

_AVERAGE = re.compile(r"Average Forward-Backward: ([\d.]+) ms")


def cache_file() -> Path:
    root = os.environ.get("CAFFESIAM_CACHE") or os.path.expanduser("~/.cache/caffesiam")
    return Path(root) / "blas_threads.json"


def _key(net_path: Path, cores: int) -> str:
    return hashlib.sha256(net_path.read_bytes()).hexdigest()[:16] + f"-{cores}"


def time_forward_backward(caffe: str, net_path: Path, cwd: Path, threads: int, iterations=10) -> Optional[float]:
    """Average forward-backward ms of `caffe time` with this many OpenBLAS threads."""
    env = dict(os.environ, OPENBLAS_NUM_THREADS=str(threads), GLOG_minloglevel="0", GLOG_logtostderr="1")
    out = runner.capture(runner.caffe_time_argv(caffe, net_path, iterations), timeout=300, env=env, cwd=cwd)
    match = _AVERAGE.search(out.stdout or "")
    if out.returncode != 0 or not match:
        return None
    return float(match.group(1))


def choose_threads(caffe: str, net_path: Path, cwd: Path, cores: int = None) -> Tuple[int, Dict[str, float]]:
    """(threads, {threads: ms}) for this net; measured once, then read from the cache."""
    cores = cores or os.cpu_count() or 1
    if cores == 1:
        return 1, {}
    key = _key(net_path, cores)
    cache = cache_file()
    try:
        known = json.loads(cache.read_text())
    except (OSError, ValueError):
        known = {}
    if key in known:
        timings = known[key]
    else:
        timings = {}
        for threads in (1, cores):
            ms = time_forward_backward(caffe, net_path, cwd, threads)
            if ms is not None:
                timings[str(threads)] = ms
        if len(timings) == 2:
            known[key] = timings
            cache.parent.mkdir(parents=True, exist_ok=True)
            cache.write_text(json.dumps(known, indent=1))
    if not timings:
        return cores, {}
    best = min(timings, key=timings.get)
    return int(best), timings
