"""Pick OpenBLAS's thread count for CPU training by measuring `caffe time`, not by guessing.

Caffe calls many small GEMMs, where OpenBLAS's threads can cost more than they give, and which
wins depends on the net and on what else the machine is doing: so it is measured at the start
of each run (about two seconds), not cached.
"""

import os
import re
from pathlib import Path
from typing import Dict, Optional, Tuple

from caffesiam.caffe import runner

_AVERAGE = re.compile(r"Average Forward-Backward: ([\d.]+) ms")


def time_forward_backward(caffe: str, net_path: Path, cwd: Path, threads: int, iterations=10) -> Optional[float]:
    """Average forward-backward ms of `caffe time` with this many OpenBLAS threads."""
    env = dict(os.environ, OPENBLAS_NUM_THREADS=str(threads), GLOG_minloglevel="0", GLOG_logtostderr="1")
    out = runner.capture(runner.caffe_time_argv(caffe, net_path, iterations), timeout=300, env=env, cwd=cwd)
    match = _AVERAGE.search(out.stdout or "")
    if out.returncode != 0 or not match:
        return None
    return float(match.group(1))


def choose_threads(caffe: str, net_path: Path, cwd: Path, cores: int = None) -> Tuple[int, Dict[str, float]]:
    """(threads, {threads: ms}): 1 thread or all cores, whichever ran the net faster just now."""
    cores = cores or os.cpu_count() or 1
    if cores == 1:
        return 1, {}
    timings = {}
    for threads in (1, cores):
        ms = time_forward_backward(caffe, net_path, cwd, threads)
        if ms is not None:
            timings[str(threads)] = ms
    if not timings:
        return cores, {}
    best = min(timings, key=timings.get)
    return int(best), timings
