"""make demo's training, stock Caffe against the patched build: wall time and accuracy.

    bench/bench_demo_train.py [--iters N] [--threads N] [--builds stock,patched]

Trains make demo's solver (demo/solver.prototxt: lenet_relu on the augmented digit pairs,
random_seed 1) with `caffesiam train` on stock Caffe and on this checkout's patched build, the
same threads for both (default: train's own 1-vs-all measurement), one after the other; then
`caffesiam evaluate`s each final model on the demo's held-out test pairs. Prints the wall times
(the whole `caffesiam train`, start-up included), their ratio, and the accuracies (at the full
9,000 iterations they should agree within seed noise: the seeds in docs/recipes.md differ by up
to 0.6 points). Needs demo/ from `make demo` (steps 1-2 are enough); stock Caffe is slow (22.8
minutes for the demo's earlier 15,000 iterations on two cores), so --iters N times a shorter run.
"""

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchutil import REPO, patched_caffe, stock_caffe, tool

from caffesiam.train.rundir import BLAS_THREADS_JSON

DEMO = REPO / "demo"


def train_and_evaluate(label, prefix, args, work):
    solver = (DEMO / "solver.prototxt").read_text()
    solver = re.sub(r'snapshot_prefix: ".*"', f'snapshot_prefix: "{work}/{label}/snap"', solver)
    solver = re.sub(r"max_iter: \d+", f"max_iter: {args.iters}", solver)
    solver = re.sub(r"snapshot: \d+", f"snapshot: {args.iters}", solver)
    solver_path = work / f"{label}_solver.prototxt"
    solver_path.write_text(solver)
    env = dict(os.environ, CAFFESIAM_CAFFE_HOME=str(prefix))
    argv = [
        str(Path(sys.executable).parent / "caffesiam"),
        "train",
        str(solver_path),
        "--out",
        str(work / label / "run"),
        "--blas-threads",
        args.threads,
    ]
    start = time.perf_counter()
    done = subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode:
        sys.exit(f"{label}: caffesiam train failed:\n{done.stderr[-3000:]}")
    report = work / f"{label}.json"
    tool(
        "evaluate",
        "--model",
        DEMO / "lenet_relu_deploy.prototxt",
        "--weights",
        work / label / f"snap_iter_{args.iters}.caffemodel",
        "--train-net",
        DEMO / "lenet_relu_train_test.prototxt",
        "--db",
        DEMO / "digits_siamese_test_leveldb",
        "--json",
        report,
        cwd=REPO,
    )
    threads = json.loads((work / label / "run" / BLAS_THREADS_JSON).read_text())["threads"]
    return seconds, json.loads(report.read_text()), threads


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--iters", type=int, default=9000)
    parser.add_argument("--threads", default="auto")
    parser.add_argument("--builds", default="stock,patched")
    args = parser.parse_args()
    labels = args.builds.split(",")
    if not labels or set(labels) - {"stock", "patched"}:
        sys.exit(f"--builds: a list of stock and patched, got '{args.builds}'")
    if (
        not (DEMO / "solver.prototxt").exists()
        or not (DEMO / "digits_siamese_test_leveldb").exists()
    ):
        sys.exit("no demo/ here: run `make demo` first (its databases and nets are reused)")
    find = {"stock": stock_caffe, "patched": patched_caffe}
    builds = {label: find[label]() for label in labels}
    results = {}
    with tempfile.TemporaryDirectory(prefix="bench_demo_") as tmp:
        for label, prefix in builds.items():
            print(f"training {args.iters} iterations on {label} Caffe ({prefix}) ...", flush=True)
            results[label] = train_and_evaluate(label, prefix, args, Path(tmp))
    print(f"\nmake demo's training, {args.iters} iterations, {os.cpu_count()} cores:")
    for label, (seconds, report, threads) in results.items():
        print(
            f"  {label:8s} {seconds / 60:6.1f} min   threads {threads}   "
            f"accuracy at d < margin/2: {report['accuracy_half_margin']:.2%}, "
            f"at the held-out best threshold: {report['best_threshold_accuracy']:.2%}"
        )
    if len(results) == 2:
        print(f"  time patched / stock = {results['patched'][0] / results['stock'][0]:.2f}")


if __name__ == "__main__":
    main()
