"""train's cost over bare `caffe train`, and OpenBLAS threads, side by side in one run.

1. Overhead: the same solver and iteration count, run alternately as `caffe train` and as
   `caffesiam train` (threads pinned the same for both), median wall times, ratio (target <= 1.02).
2. Threads: `caffe time` forward-backward of the LeNet siamese net with OPENBLAS_NUM_THREADS=1
   and with OpenBLAS's default, alternately.
Data: real Fashion-MNIST pairs built with `caffesiam build-db fashion-mnist`.
"""

import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from caffesiam.caffe.glog import glog_env

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
CS = str(BIN / "caffesiam")
ITERS = int(os.environ.get("BENCH_ITERS", 600))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", 3))


def sh(*argv, **kw):
    return subprocess.run([str(a) for a in argv], check=True, capture_output=True, text=True, **kw)


def timed(argv, cwd, env):
    start = time.perf_counter()
    subprocess.run(
        argv, cwd=cwd, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    return time.perf_counter() - start


def main():
    work = Path(tempfile.mkdtemp(prefix="bench_train_"))
    sh(CS, "build-db", "fashion-mnist", "--out", work, "--pairs", 20000, "--test-pairs", 1000)
    net = sh(
        CS,
        "gen-net",
        REPO / "templates/lenet.yaml",
        "--train-source",
        "fashion_mnist_siamese_train_leveldb",
        "--test-source",
        "fashion_mnist_siamese_test_leveldb",
    ).stdout
    (work / "net.prototxt").write_text(net)
    solver = sh(
        CS,
        "gen-solver",
        "net.prototxt",
        "--max-iter",
        ITERS,
        "--test-interval",
        200,
        "--test-iter",
        10,
        "--snapshot",
        0,
        "--snapshot-prefix",
        "snap/lenet",
        cwd=work,
    ).stdout
    (work / "solver.prototxt").write_text(solver)
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", **glog_env(full_log=True))
    caffe = shutil.which("caffe", path=str(BIN))
    bare, ours = [], []
    for _ in range(ROUNDS):
        for runs, argv in (
            (bare, [caffe, "train", "-solver", "solver.prototxt"]),
            (ours, [CS, "train", "solver.prototxt", "--blas-threads", "1", "--out", "run"]),
        ):
            shutil.rmtree(work / "snap", ignore_errors=True)
            shutil.rmtree(work / "run", ignore_errors=True)
            (work / "snap").mkdir()
            runs.append(timed(argv, work, env))
    b, o = statistics.median(bare), statistics.median(ours)
    print(f"overhead: {ITERS} iterations, {ROUNDS} rounds alternating")
    print(
        f"  caffe train      median {b:.2f} s  ({ITERS / b:.1f} it/s)  runs "
        f"{[round(t, 2) for t in bare]}"
    )
    print(
        f"  caffesiam train  median {o:.2f} s  ({ITERS / o:.1f} it/s)  runs "
        f"{[round(t, 2) for t in ours]}"
    )
    print(f"  ratio caffesiam / caffe = {o / b:.3f} (target <= 1.02)")

    ms = {"1": [], "default": []}
    for _ in range(ROUNDS):
        for label in ms:
            env_t = dict(env)
            if label == "default":
                env_t.pop("OPENBLAS_NUM_THREADS")
            out = subprocess.run(
                [caffe, "time", "-model", "net.prototxt", "-iterations", "50"],
                cwd=work,
                env=env_t,
                capture_output=True,
                text=True,
                check=True,
            ).stderr
            ms[label].append(
                float(re.search(r"Average Forward-Backward: ([\d.]+) ms", out).group(1))
            )
    one, default = statistics.median(ms["1"]), statistics.median(ms["default"])
    print(
        f"OpenBLAS threads, caffe time forward-backward (batch 64): 1 thread {one:.1f} ms, "
        f"default ({os.cpu_count()} cores) {default:.1f} ms, ratio {default / one:.2f}"
    )
    shutil.rmtree(work)


if __name__ == "__main__":
    main()
