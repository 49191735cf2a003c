"""Pick the thread count for CPU training by measuring `caffe time`, not by guessing.

One count covers both kinds of threads Caffe may run, so they never oversubscribe the cores:
the patched build (scripts/patches/speed) splits its work over OMP_NUM_THREADS OpenMP threads
and runs OpenBLAS single-threaded under them; stock Caffe leaves it to OpenBLAS's own
OPENBLAS_NUM_THREADS threads. Both variables get the same count. Caffe's many small GEMMs and
short loops can lose more to threads than they gain, and which wins depends on the net and on
what else the machine is doing: so it is measured at the start of each run (about two seconds),
not cached. A run in a Docker image is timed in that image, whose Caffe and CPU share are the
ones that train; a GPU run is not timed at all.
"""

import json
import os
import re
from pathlib import Path

from caffesiam.caffe import runner
from caffesiam.caffe.glog import glog_env
from caffesiam.files import write_text_atomic
from caffesiam.limits import NET_CHILD_TIMEOUT_S
from caffesiam.train.plan import TrainPlan

_AVERAGE = re.compile(r"Average Forward-Backward: ([\d.]+) ms")
# Read in this order, as the patched Caffe reads them.
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def thread_env(threads: int) -> dict[str, str]:
    """The environment that runs Caffe, patched or stock, on this many threads in all."""
    return {name: str(threads) for name in THREAD_VARIABLES}


def time_forward_backward(plan: TrainPlan, launch, threads: int, iterations=10) -> float | None:
    """Average forward-backward ms of `caffe time` on the run's net with this many threads,
    where `launch` (train.launch) runs the run's Caffe."""
    env = dict(os.environ, **thread_env(threads), **glog_env(full_log=True))
    argv = launch.wrap(plan, runner.caffe_time_argv(launch.caffe, plan.net_path, iterations), env)
    try:
        out = runner.capture(argv, timeout=NET_CHILD_TIMEOUT_S, env=env, cwd=plan.cwd)
    except runner.Timeout:
        return None
    match = _AVERAGE.search(out.stdout or "")
    if out.returncode != 0 or not match:
        return None
    return float(match.group(1))


def choose_threads(plan: TrainPlan, launch, cores: int = None) -> tuple[int, dict[str, float]]:
    """(threads, {threads: ms}): 1 thread or all cores, whichever ran the net faster just now."""
    cores = cores or os.cpu_count() or 1
    if cores == 1:
        return 1, {}
    timings = {}
    for threads in (1, cores):
        ms = time_forward_backward(plan, launch, threads)
        if ms is not None:
            timings[str(threads)] = ms
    if not timings:
        return cores, {}
    best = min(timings, key=timings.get)
    return int(best), timings


def threads_for_run(plan: TrainPlan, option: str, launch):
    """(threads or None, why, {threads: ms measured}): none for a GPU run, else --blas-threads N,
    else $OMP_NUM_THREADS, else $OPENBLAS_NUM_THREADS (a positive number), else whichever of 1
    and all cores ran the net faster just now."""
    if plan.gpu is not None:
        return None, "GPU run", {}
    if option != "auto":
        return int(option), "--blas-threads", {}
    for name in THREAD_VARIABLES:
        if os.environ.get(name, "").isdigit() and int(os.environ[name]) > 0:
            return int(os.environ[name]), name, {}
    threads, timings = choose_threads(plan, launch)
    measured = ", ".join(f"{t} thread(s) {ms:.1f} ms" for t, ms in sorted(timings.items()))
    return threads, (f"measured forward-backward: {measured}" if measured else "default"), timings


def write_choice(path: Path, threads: int | None, why: str, timings: dict[str, float]):
    """The choice and what it was based on, as the run directory's blas_threads.json."""
    write_text_atomic(
        path,
        json.dumps({"threads": threads, "reason": why, "forward_backward_ms": timings}, indent=1),
    )
