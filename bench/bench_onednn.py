"""The patched build's convolutions through im2col + GEMM and through oneDNN, layer by layer.

    bench/bench_onednn.py [--threads N] [--iterations N] [--rounds N] [--nets lenet_relu,...]

Speed patch 06 runs float convolutions through oneDNN where CAFFE_CONV_DNNL asks for it (1: the
layout it picks, nhwc, blocked); by default they stay im2col + GEMM. For each net (the nets of
bench_caffe_layers.py), `caffe time` of the siamese train net runs with each setting in turn,
round after round, on this checkout's patched build. Printed: median forward+backward ms of each
convolution (both towers summed) and of the iteration per setting, each setting's iteration as a
ratio of im2col's, and the sgemm floor measured in the same run.
"""

import argparse
import os
import tempfile
from pathlib import Path

from bench_caffe_layers import NETS, median_times
from benchutil import REPO, patched_caffe, sgemm_floor_ms, sgemm_rate, siamese_train_net

SETTINGS = {"im2col": "0", "oneDNN": "1", "nhwc": "nhwc", "blocked": "blocked"}


def bench_net(name, prefix, work, args, rate):
    spec, data = NETS[name]
    net = siamese_train_net(work, spec, data)
    median = median_times(
        {label: (prefix, {"CAFFE_CONV_DNNL": value}) for label, value in SETTINGS.items()},
        net,
        work,
        args,
    )
    layers = {label: layer_ms for label, (layer_ms, _) in median.items()}
    iteration = {label: ms for label, (_, ms) in median.items()}
    floor, gflop = sgemm_floor_ms(net, rate)
    print(
        f"\n{name} ({spec.relative_to(REPO)}, {data} data): {args.threads} threads, "
        f"{args.iterations} iterations x {args.rounds} rounds, medians, ms (both towers)"
    )
    print(f"  {'layer':12s}" + "".join(f"{label:>10s}" for label in SETTINGS))
    for layer in layers["im2col"]:
        if layer.startswith("conv"):
            print(f"  {layer:12s}" + "".join(f"{layers[s][layer]:10.2f}" for s in SETTINGS))
    print(f"  {'iteration':12s}" + "".join(f"{iteration[s]:10.2f}" for s in SETTINGS))
    print(
        f"  {'/ im2col':12s}"
        + "".join(f"{iteration[s] / iteration['im2col']:10.2f}" for s in SETTINGS)
    )
    print(
        f"  {'/ floor':12s}"
        + "".join(f"{iteration[s] / floor:10.2f}" for s in SETTINGS)
        + f"   (sgemm floor {floor:.2f} ms: {gflop:.2f} GFLOP at {rate:.0f} GFLOP/s)"
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--iterations", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--nets", default="lenet_relu,color_bn,caffenet64")
    args = parser.parse_args()
    prefix = patched_caffe()
    rate = sgemm_rate(args.threads)
    print(f"patched {prefix}; OpenBLAS sgemm 2048^3, {args.threads} threads: {rate:.1f} GFLOP/s")
    with tempfile.TemporaryDirectory(prefix="bench_onednn_") as work:
        for name in args.nets.split(","):
            bench_net(name, prefix, Path(work), args, rate)


if __name__ == "__main__":
    main()
