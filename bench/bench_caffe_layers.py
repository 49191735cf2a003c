"""Caffe with the speed patches against stock Caffe, layer by layer, and against the sgemm floor.

    bench/bench_caffe_layers.py [--threads N] [--iterations N] [--rounds N] [--nets lenet,...]

For each net, `caffe time` (forward and backward of the siamese train net, both towers) runs with
the stock build and with this checkout's patched build alternately, the same thread count for
both (OPENBLAS_NUM_THREADS and OMP_NUM_THREADS; default all cores). Printed per layer: median
forward+backward ms of the stock and the patched build (both towers summed) and their ratio;
then the whole iteration, and the iteration as a multiple of the sgemm floor: the net's
multiply-adds (convolutions and inner products, forward and backward) at the rate OpenBLAS's
sgemm reaches on large matrices with the same threads, measured in the same run.

Nets: lenet (templates/lenet.yaml, bench_torch_peer's net) and lenet_relu (make demo's) on real
Fashion-MNIST pairs; color_bn (templates/color_bn.yaml) and caffenet64 (CaffeNet's conv layers,
LRN included, on 64x64 crops: bench/nets/caffenet_conv64.yaml) on DummyData (caffesiam's data
sources have no RGB set; timing does not depend on the values, except stock's branchy max
pooling, which random inputs can slow down). The stock build comes from install_caffe.sh
--stock (cached).
"""

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from benchutil import (
    REPO,
    patched_caffe,
    sgemm_floor_ms,
    sgemm_rate,
    siamese_train_net,
    stock_caffe,
)

from caffesiam.caffe.glog import glog_env
from caffesiam.train.blas_threads import thread_env

NETS = {
    "lenet": (REPO / "templates/lenet.yaml", "fashion"),
    "lenet_relu": (REPO / "templates/lenet_relu.yaml", "fashion"),
    "color_bn": (REPO / "templates/color_bn.yaml", "dummy"),
    "caffenet64": (REPO / "bench/nets/caffenet_conv64.yaml", "dummy"),
}
_LAYER_TIME = re.compile(r"\]\s+(\S+)\s+(forward|backward): ([\d.]+) ms")
_ITERATION = re.compile(r"Average Forward-Backward: ([\d.]+) ms")


def caffe_time(prefix: Path, net: Path, iterations: int, threads: int, cwd: Path, extra_env=None):
    """({layer: forward+backward ms, towers summed}, iteration ms) of one `caffe time` run."""
    env = dict(os.environ, **thread_env(threads), **glog_env(full_log=True), **(extra_env or {}))
    done = subprocess.run(
        [str(prefix / "bin/caffe"), "time", "-model", str(net), "-iterations", str(iterations)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
    )
    iteration = _ITERATION.search(done.stderr)
    if done.returncode or not iteration:
        sys.exit(f"caffe time failed ({prefix}):\n{done.stderr[-2000:]}")
    layers = {}
    for name, _, ms in _LAYER_TIME.findall(done.stderr):
        tower = name[:-2] if name.endswith("_p") else name
        layers[tower] = layers.get(tower, 0.0) + float(ms)
    return layers, float(iteration.group(1))


def median_times(runs: dict, net: Path, work: Path, args) -> dict:
    """{label: ({layer: median ms}, median iteration ms)} of `caffe time` for each label's (Caffe
    prefix, extra environment), the labels taking turns round after round."""
    times = {label: [] for label in runs}
    for _ in range(args.rounds):
        for label, (prefix, env) in runs.items():
            times[label].append(caffe_time(prefix, net, args.iterations, args.threads, work, env))
    return {
        label: (
            {layer: statistics.median(r[0][layer] for r in ts) for layer in ts[0][0]},
            statistics.median(r[1] for r in ts),
        )
        for label, ts in times.items()
    }


def bench_net(name, builds, work, args, rate):
    spec, data = NETS[name]
    net = siamese_train_net(work, spec, data)
    median = median_times(
        {label: (prefix, {}) for label, prefix in builds.items()}, net, work, args
    )
    (stock_layers, stock_it), (patched_layers, patched_it) = median["stock"], median["patched"]
    floor, gflop = sgemm_floor_ms(net, rate)
    print(
        f"\n{name} ({spec.relative_to(REPO)}, {data} data): {args.threads} threads, "
        f"{args.iterations} iterations x {args.rounds} rounds, medians"
    )
    print(
        f"  {'layer (both towers)':24s} {'stock ms':>9s} {'patched ms':>11s} {'patched/stock':>14s}"
    )
    for layer, ms in stock_layers.items():
        if ms >= 0.05 or patched_layers[layer] >= 0.05:
            print(
                f"  {layer:24s} {ms:9.2f} {patched_layers[layer]:11.2f} "
                f"{patched_layers[layer] / ms:14.2f}"
            )
    print(f"  {'iteration':24s} {stock_it:9.2f} {patched_it:11.2f} {patched_it / stock_it:14.2f}")
    print(
        f"  sgemm floor {floor:.2f} ms ({gflop:.2f} GFLOP at {rate:.0f} GFLOP/s); "
        f"iteration / floor: stock {stock_it / floor:.2f}x, patched {patched_it / floor:.2f}x"
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--iterations", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--nets", default=",".join(NETS))
    args = parser.parse_args()
    builds = {"stock": stock_caffe(), "patched": patched_caffe()}
    for label, prefix in builds.items():
        print(f"{label:8s} {prefix}")
    rate = sgemm_rate(args.threads)
    print(
        f"OpenBLAS sgemm 2048^3, {args.threads} threads: {rate:.1f} GFLOP/s "
        f"(1 thread: {sgemm_rate(1):.1f})"
    )
    with tempfile.TemporaryDirectory(prefix="bench_layers_") as work:
        for name in args.nets.split(","):
            bench_net(name, builds, Path(work), args, rate)


if __name__ == "__main__":
    main()
