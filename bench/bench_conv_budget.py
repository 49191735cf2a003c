"""The batched convolution's memory budget (CAFFE_CONV_BATCH_BYTES) against speed, patched Caffe.

    bench/bench_conv_budget.py [--threads N] [--iterations N] [--rounds N] [--budgets 0,150K,...]
                               [--nets lenet_relu,...]

For each budget, `caffe time` of the net's siamese train net (both towers) with this checkout's
patched build, budgets alternating round after round; printed: the medians of each convolution
(forward+backward, towers summed) and of the whole iteration, and the iteration against the
sgemm floor measured in the same run. Budget 0 means one image per GEMM: Caffe's own per-image
GEMMs, still parallel over images.
"""

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

from bench_caffe_layers import NETS, caffe_time
from benchutil import patched_caffe, sgemm_floor_ms, sgemm_rate, siamese_train_net

DEFAULT_BUDGETS = "0,150K,300K,600K,1200K,2400K,4800K"


def parse_bytes(text: str) -> int:
    text = text.strip().upper()
    scale = {"K": 1 << 10, "M": 1 << 20}.get(text[-1:], 1)
    return int(text.rstrip("KM")) * scale


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--iterations", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--budgets", default=DEFAULT_BUDGETS)
    parser.add_argument("--nets", default="lenet_relu")
    args = parser.parse_args()
    budgets = [parse_bytes(b) for b in args.budgets.split(",")]
    prefix = patched_caffe()
    rate = sgemm_rate(args.threads)
    print(f"patched {prefix}\nsgemm {rate:.1f} GFLOP/s on {args.threads} threads")
    with tempfile.TemporaryDirectory(prefix="bench_budget_") as tmp:
        work = Path(tmp)
        for name in args.nets.split(","):
            spec, data = NETS[name]
            net = siamese_train_net(work, spec, data)
            runs = {budget: [] for budget in budgets}
            for _ in range(args.rounds):
                for budget in budgets:
                    os.environ["CAFFE_CONV_BATCH_BYTES"] = str(budget)
                    runs[budget].append(
                        caffe_time(prefix, net, args.iterations, args.threads, work)
                    )
            floor, gflop = sgemm_floor_ms(net, rate)
            convs = [layer for layer in runs[budgets[0]][0][0] if layer.startswith("conv")]
            print(
                f"\n{name}: {args.threads} threads, {args.iterations} iterations x {args.rounds} "
                f"rounds, "
                f"medians, ms forward+backward; floor {floor:.2f} ms ({gflop:.2f} GFLOP)"
            )
            print(
                f"  {'budget':>8s} "
                + " ".join(f"{c:>8s}" for c in convs)
                + f" {'iteration':>10s} {'/ floor':>8s}"
            )
            for budget, rs in runs.items():
                layer_ms = {c: statistics.median(r[0][c] for r in rs) for c in convs}
                iteration = statistics.median(r[1] for r in rs)
                print(
                    f"  {budget >> 10:7d}K "
                    + " ".join(f"{layer_ms[c]:8.2f}" for c in convs)
                    + f" {iteration:10.2f} {iteration / floor:7.2f}x"
                )
    sys.exit(0)


if __name__ == "__main__":
    main()
