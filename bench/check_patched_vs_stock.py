"""Proof that the speed patches change nothing but the speed: patched against stock Caffe.

    bench/check_patched_vs_stock.py [--iterations 500] [--batches 5]

1. Same weights, same batches: the demo net (templates/lenet_relu.yaml) on real Fashion-MNIST
   pairs, and templates/color_bn.yaml (BatchNorm, Scale, PReLU) on DummyData, forward and
   backward through each build (pycaffe in a child process per build; the patched one with all
   cores and with 1 thread). Every blob's forward output and every parameter gradient must agree
   with stock to 1e-5 of the blob's largest magnitude.
2. Same seed, same data: `caffe train` of that net for --iterations iterations with each build,
   on 1 and on 2 threads, against stock on 1 thread. float32 SGD amplifies any change in
   summation order, so stock on 2 threads is the yardstick: each patched curve must stay within
   1e-4 (relative) at every iteration at least as long as stock's 2-thread curve does, and its
   worst difference must be at most 1.5x stock's own. Whether the whole curve is within 1e-4 is
   printed too.
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
from benchutil import REPO, patched_caffe, siamese_train_net, stock_caffe, tool

from caffesiam.caffe.glog import glog_env
from caffesiam.train.blas_threads import thread_env

FORWARD_TOLERANCE = GRADIENT_TOLERANCE = 1e-5
LOSS_TOLERANCE = 1e-4
SLACK = 1.5  # the patched curve's worst difference against stock's own, one sample each
_LOSS = re.compile(r"Iteration (\d+) .*?loss = ([-\d.e+]+)")

# Child: run forward/backward on a few batches with given weights, save blobs and gradients.
DUMP = r"""
import sys, numpy as np
import caffe
caffe.set_mode_cpu()
net_path, weights, out, batches = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
caffe.set_random_seed(1)  # DummyData's filler draws the same batches in both builds
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
    env = dict(os.environ, PYTHONPATH=str(prefix / "python"), **glog_env(full_log=False))
    if threads:
        env.update(thread_env(threads))
    done = subprocess.run(
        [sys.executable, "-c", script, *map(str, args)], env=env, capture_output=True, text=True
    )
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
        print(
            f"  {label}: {kind:8s} outputs, worst {error:.1e} of the blob's max ({key or '-'})  "
            f"{'ok' if passed else f'FAIL (> {tolerance:g})'}"
        )
    if zero:
        print(
            f"  {label}: {len(zero)} bias gradients zero in exact arithmetic (the last layer's, "
            "per batch "
            f"and tower): rounding noise in both, at most {max(zero):.1e} of the weight gradient"
        )
    return ok


def compare_builds(
    stock: Path, patched: Path, net_path: Path, weights: Path, batches: int, out: Path
) -> bool:
    """Dump the net's blobs and gradients on each build (patched: all cores and 1 thread) and
    compare the patched dumps with stock's."""
    out.mkdir()
    dumps = {}
    for label, prefix, threads in (
        ("stock", stock, None),
        ("patched", patched, None),
        ("patched, 1 thread", patched, 1),
    ):
        path = out / f"{label.replace(' ', '_').replace(',', '')}.npz"
        pycaffe(prefix, DUMP, net_path, weights, path, batches, threads=threads)
        dumps[label] = dict(np.load(path))
    ok = True
    for label in ("patched", "patched, 1 thread"):
        ok &= compare_batches(dumps["stock"], dumps[label], label)
    return ok


def losses(prefix: Path, solver: Path, cwd: Path, threads: int) -> dict:
    env = dict(os.environ, **glog_env(full_log=True), **thread_env(threads))
    done = subprocess.run(
        [str(prefix / "bin/caffe"), "train", "-solver", str(solver)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
    )
    if done.returncode:
        sys.exit(f"caffe train failed ({prefix}):\n{done.stderr[-3000:]}")
    return {int(i): float(loss) for i, loss in _LOSS.findall(done.stderr)}


def curve_difference(reference: dict, other: dict) -> dict:
    """How far `other`'s loss curve is from `reference`'s: the worst relative difference at one
    iteration, the last iteration up to which every one agrees to LOSS_TOLERANCE, and the
    relative difference of the mean loss over the last fifth of the run."""
    if not reference or reference.keys() != other.keys():
        sys.exit(
            f"the runs logged different iterations: {sorted(reference)[:5]}... vs "
            f"{sorted(other)[:5]}..."
        )
    iterations = sorted(reference)
    errors = {i: abs(reference[i] - other[i]) / abs(reference[i]) for i in iterations}
    worst = max(iterations, key=errors.get)
    agree = -1
    for i in iterations:
        if errors[i] > LOSS_TOLERANCE:
            break
        agree = i
    tail = iterations[-max(1, len(iterations) // 5) :]
    mean_a = np.mean([reference[i] for i in tail])
    mean_b = np.mean([other[i] for i in tail])
    return {
        "worst": errors[worst],
        "at": worst,
        "agree_through": agree,
        "tail_mean": abs(mean_a - mean_b) / abs(mean_a),
    }


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
        tool(
            "build-db",
            "fashion-mnist",
            "--out",
            work,
            "--pairs",
            20000,
            "--test-pairs",
            500,
            cwd=work,
        )
        net, _ = tool(
            "gen-net",
            REPO / "templates/lenet_relu.yaml",
            "--train-source",
            work / "fashion_mnist_siamese_train_leveldb",
            "--test-source",
            work / "fashion_mnist_siamese_test_leveldb",
            cwd=work,
        )
        net_path = work / "net.prototxt"
        net_path.write_text(net.stdout)
        weights = work / "init.caffemodel"
        pycaffe(stock, INIT, net_path, weights)

        print(
            f"\n1. forward outputs and parameter gradients, {args.batches} real batches of 64 "
            "pairs:"
        )
        ok &= compare_builds(stock, patched, net_path, weights, args.batches, work / "lenet_relu")
        # The patches' other layers (PReLU, BatchNorm with batch statistics, Scale): color_bn's
        # tower on DummyData (uniform pixels, drawn from the same seed by both builds).
        bn_net = siamese_train_net(work, REPO / "templates/color_bn.yaml", "dummy")
        bn_weights = work / "color_bn_init.caffemodel"
        pycaffe(stock, INIT, bn_net, bn_weights)
        print(
            f"\n   color_bn (conv, BatchNorm, Scale, ReLU, PReLU), {args.batches} DummyData "
            "batches of 32 pairs:"
        )
        ok &= compare_builds(stock, patched, bn_net, bn_weights, args.batches, work / "color_bn")

        print(
            f"\n2. loss curves, {args.iterations} iterations of `caffe train` from random_seed 1:"
        )
        solver, _ = tool(
            "gen-solver",
            net_path,
            "--max-iter",
            args.iterations,
            "--display",
            1,
            "--test-interval",
            100000,
            "--test-iter",
            1,
            "--snapshot",
            0,
            "--random-seed",
            1,
            "--snapshot-prefix",
            work / "snap/net",
            cwd=work,
        )
        solver_path = work / "solver.prototxt"
        solver_path.write_text(solver.stdout)
        (work / "snap").mkdir()  # plain caffe train writes its final snapshot there
        # Stock against itself on another thread count is the yardstick: float32 SGD amplifies
        # any change in summation order, the patches' or OpenBLAS's own.
        runs = (
            ("stock, 1 thread", stock, 1),
            ("stock, 2 threads", stock, 2),
            ("patched, 1 thread", patched, 1),
            ("patched, 2 threads", patched, 2),
        )
        curves = {
            label: losses(prefix, solver_path, work, threads) for label, prefix, threads in runs
        }
        reference = curves["stock, 1 thread"]
        print(
            f"  {len(reference)} logged iterations; stock, 1 thread: loss "
            f"{reference[min(reference)]:.4f} -> "
            f"{reference[max(reference)]:.4f}. Against it (relative differences):"
        )
        found = {}
        for label, _, _ in runs[1:]:
            found[label] = d = curve_difference(reference, curves[label])
            print(
                f"    {label:18s} worst {d['worst']:.1e} (iteration {d['at']}); every iteration "
                "within "
                f"{LOSS_TOLERANCE:g} through {d['agree_through']}; mean loss of the last fifth "
                f"{d['tail_mean']:.1e}"
            )
        # The 1e-4 asked holds for the first iterations only, for stock against itself too; the
        # verdict: the patched curves stay as close to stock's as stock's own 2-thread curve does.
        yardstick = found["stock, 2 threads"]
        for label in ("patched, 1 thread", "patched, 2 threads"):
            d = found[label]
            passed = (
                d["worst"] <= SLACK * yardstick["worst"]
                and d["agree_through"] >= yardstick["agree_through"]
            )
            ok &= passed
            print(
                f"  {label}: {'within' if passed else 'FAIL: beyond'} stock's own spread (worst "
                f"{d['worst']:.1e} vs {yardstick['worst']:.1e}, x{SLACK:g} allowed; within "
                f"{LOSS_TOLERANCE:g} "
                f"through iteration {d['agree_through']} vs {yardstick['agree_through']})"
            )
        print(
            f"  every iteration within {LOSS_TOLERANCE:g}: "
            + ", ".join(
                f"{label} {'yes' if found[label]['worst'] <= LOSS_TOLERANCE else 'no'}"
                for label in found
            )
        )
    print("\nall checks passed" if ok else "\nSOME CHECKS FAILED")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
