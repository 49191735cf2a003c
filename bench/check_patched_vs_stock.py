"""Proof that the speed patches change nothing but the speed: patched against stock Caffe.

    bench/check_patched_vs_stock.py [--iterations 500] [--batches 5]

1. Same weights, same real batches: the demo net (templates/lenet_relu.yaml) on Fashion-MNIST
   pairs, forward and backward through each build (pycaffe in a child process per build; the
   patched one with all cores and with 1 thread). Every blob's forward output and every
   parameter gradient must agree with stock to 1e-5 of the blob's largest magnitude.
2. Same seed, same data: `caffe train` of that net for --iterations iterations with each build;
   the loss curves must agree to 1e-4 (relative, at every displayed iteration).
Exits 1 if any check fails. The stock build comes from install_caffe.sh --stock (cached).
"""

import argparse
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from benchutil import REPO, patched_caffe, stock_caffe, tool

FORWARD_TOLERANCE = GRADIENT_TOLERANCE = 1e-5
LOSS_TOLERANCE = 1e-4
_LOSS = re.compile(r"Iteration (\d+) .*?loss = ([-\d.e+]+)")

# Child: run forward/backward on a few batches with given weights, save blobs and gradients.
DUMP = r"""
import sys, numpy as np
import caffe
caffe.set_mode_cpu()
net_path, weights, out, batches = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
net = caffe.Net(net_path, weights, caffe.TRAIN)
saved = {}
for batch in range(batches):
    net.forward()
    for layer in net.params.values():
        for blob in layer:
            blob.diff[...] = 0
    net.backward()
    for name, blob in net.blobs.items():
        saved[f"{batch}/forward/{name}"] = blob.data.copy()
    for name, layer in net.params.items():
        for i, blob in enumerate(layer):
            saved[f"{batch}/gradient/{name}/{i}"] = blob.diff.copy()
np.savez(out, **saved)
"""

INIT = r"""
import sys
import caffe
caffe.set_mode_cpu()
caffe.set_random_seed(1)
caffe.Net(sys.argv[1], caffe.TRAIN).save(sys.argv[2])
"""


def pycaffe(prefix: Path, script: str, *args, threads=None):
    env = dict(os.environ, PYTHONPATH=str(prefix / "python"), GLOG_minloglevel="2")
    if threads:
        env.update(OMP_NUM_THREADS=str(threads), OPENBLAS_NUM_THREADS=str(threads))
    done = subprocess.run([sys.executable, "-c", script, *map(str, args)], env=env,
                          capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"pycaffe child ({prefix}) failed:\n{done.stderr[-3000:]}")


def compare_batches(stock: dict, patched: dict, label: str) -> bool:
    """Forward outputs and gradients of two dumps. A gradient that is zero in exact arithmetic
    (the last layer's bias of a siamese net: the loss sees only the difference of the towers'
    outputs) is rounding noise in both builds; it passes when both stay below 1e-4 of the
    layer's weight gradient."""
    worst = {"forward": (0.0, ""), "gradient": (0.0, "")}
    zero, ok = [], True
    for key in stock:
        kind = key.split("/")[1]
        a, b = stock[key].astype(np.float64), patched[key].astype(np.float64)
        scale = np.abs(a).max()
        if kind == "gradient" and key.endswith("/1"):
            weights = np.abs(stock[key[:-1] + "0"]).max()
            if scale < 1e-4 * weights and np.abs(b).max() < 1e-4 * weights:
                zero.append(max(scale, np.abs(b).max()) / weights)
                continue
        error = np.abs(a - b).max() / scale if scale else np.abs(b).max()
        if error > worst[kind][0]:
            worst[kind] = (error, key)
    for kind, tolerance in (("forward", FORWARD_TOLERANCE), ("gradient", GRADIENT_TOLERANCE)):
        error, key = worst[kind]
        passed = error <= tolerance
        ok &= passed
        print(f"  {label}: {kind:8s} outputs, worst {error:.1e} of the blob's max ({key or '-'})  "
              f"{'ok' if passed else f'FAIL (> {tolerance:g})'}")
    if zero:
        print(f"  {label}: {len(zero)} bias gradients zero in exact arithmetic (the last layer's, per batch "
              f"and tower): rounding noise in both, at most {max(zero):.1e} of the weight gradient")
    return ok


def losses(prefix: Path, solver: Path, cwd: Path) -> dict:
    env = dict(os.environ, GLOG_logtostderr="1", GLOG_minloglevel="0")
    done = subprocess.run([str(prefix / "bin/caffe"), "train", "-solver", str(solver)], cwd=cwd, env=env,
                          capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"caffe train failed ({prefix}):\n{done.stderr[-3000:]}")
    return {int(i): float(loss) for i, loss in _LOSS.findall(done.stderr)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--iterations", type=int, default=500)
    parser.add_argument("--batches", type=int, default=5)
    args = parser.parse_args()
    stock, patched = stock_caffe(), patched_caffe()
    print(f"stock   {stock}\npatched {patched}")
    ok = True
    with tempfile.TemporaryDirectory(prefix="check_patches_") as tmp:
        work = Path(tmp)
        tool("build-db", "fashion-mnist", "--out", work, "--pairs", 20000, "--test-pairs", 500, cwd=work)
        net, _ = tool("gen-net", REPO / "templates/lenet_relu.yaml",
                      "--train-source", work / "fashion_mnist_siamese_train_leveldb",
                      "--test-source", work / "fashion_mnist_siamese_test_leveldb", cwd=work)
        net_path = work / "net.prototxt"
        net_path.write_text(net.stdout)
        weights = work / "init.caffemodel"
        pycaffe(stock, INIT, net_path, weights)

        print(f"\n1. forward outputs and parameter gradients, {args.batches} real batches of 64 pairs:")
        dumps = {}
        for label, prefix, threads in (("stock", stock, None), ("patched", patched, None),
                                       ("patched, 1 thread", patched, 1)):
            out = work / f"{label.replace(' ', '_').replace(',', '')}.npz"
            pycaffe(prefix, DUMP, net_path, weights, out, args.batches, threads=threads)
            dumps[label] = dict(np.load(out))
        for label in ("patched", "patched, 1 thread"):
            ok &= compare_batches(dumps["stock"], dumps[label], label)

        print(f"\n2. loss curves, {args.iterations} iterations of `caffe train` from random_seed 1:")
        solver, _ = tool("gen-solver", net_path, "--max-iter", args.iterations, "--display", 10,
                         "--test-interval", 100000, "--test-iter", 1, "--snapshot", 0,
                         "--random-seed", 1, "--snapshot-prefix", work / "snap/net", cwd=work)
        solver_path = work / "solver.prototxt"
        solver_path.write_text(solver.stdout)
        (work / "snap").mkdir()  # plain caffe train writes its final snapshot there
        curves = {label: losses(prefix, solver_path, work) for label, prefix in (("stock", stock), ("patched", patched))}
        a, b = curves["stock"], curves["patched"]
        if not a or a.keys() != b.keys():
            sys.exit(f"the two runs logged different iterations: {sorted(a)[:5]}... vs {sorted(b)[:5]}...")
        errors = {i: abs(a[i] - b[i]) / abs(a[i]) for i in a}
        worst = max(errors, key=errors.get)
        passed = errors[worst] <= LOSS_TOLERANCE
        ok &= passed
        print(f"  {len(a)} logged iterations; losses {a[min(a)]:.4f} -> {a[max(a)]:.4f} (stock), "
              f"{b[min(b)]:.4f} -> {b[max(b)]:.4f} (patched)")
        print(f"  worst relative difference {errors[worst]:.1e} at iteration {worst}; at the last: "
              f"{errors[max(a)]:.1e}  {'ok' if passed else f'FAIL (> {LOSS_TOLERANCE:g})'}")
    print("\nall checks passed" if ok else "\nSOME CHECKS FAILED")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
