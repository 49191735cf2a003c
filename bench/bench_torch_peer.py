"""Peer: caffesiam train on the patched and on stock Caffe against PyTorch, the same siamese nets
on the CPU, per-iteration time, and each against the sgemm floor.

    bench/bench_torch_peer.py [--threads N] [--nets lenet_relu,caffenet64,lenet] [--rounds N]

Nets: make demo's (templates/lenet_relu.yaml) and Caffe's example LeNet (templates/lenet.yaml) on
real Fashion-MNIST pairs at batch 64; the bigger tower, CaffeNet's conv layers on 64x64 RGB crops
(bench/nets/caffenet_conv64.yaml, batch 32) on DummyData (uniform pixels) in Caffe and on uniform
random tensors in PyTorch. The same layers in PyTorch (Caffe's weight init is not reproduced; the
time does not depend on it). Every side trains the same number of iterations, with the same
threads (default all cores: caffesiam train --blas-threads N, torch.set_num_threads(N)), in one
run, round after round alternating. caffesiam's time per iteration comes from Caffe's own log
(iters/s of the displayed intervals), which leaves out start-up, as the PyTorch loop (its warm-up
excluded) does. The floor: the net's multiply-adds (convolutions and inner products, forward and
backward) at the sgemm rate OpenBLAS reaches on 2048^3 products with the same threads, measured
here. The stock build comes from install_caffe.sh --stock (cached). PyTorch is not a caffesiam
dependency: `pip install torch==2.13.0` first.
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchutil import (
    REPO,
    TOOL,
    patched_caffe,
    sgemm_floor_ms,
    sgemm_rate,
    siamese_train_net,
    stock_caffe,
    tool,
)

from caffesiam.train.rundir import CAFFE_LOG

# net: (spec, data, iterations per run, Caffe's display interval)
NETS = {
    "lenet_relu": (REPO / "templates/lenet_relu.yaml", "fashion", 300, 50),
    "caffenet64": (REPO / "bench/nets/caffenet_conv64.yaml", "dummy", 60, 10),
    "lenet": (REPO / "templates/lenet.yaml", "fashion", 300, 50),
}
WARM_UP = 20


def torch_tower(net):
    """The spec's tower in PyTorch."""
    from torch import nn

    if net == "lenet":
        return nn.Sequential(
            nn.Conv2d(1, 20, 5),
            nn.MaxPool2d(2),
            nn.Conv2d(20, 50, 5),
            nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(800, 500),
            nn.ReLU(),
            nn.Linear(500, 10),
            nn.Linear(10, 2),
        )
    if net == "lenet_relu":
        return nn.Sequential(
            nn.Conv2d(1, 20, 5),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(20, 50, 5),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(800, 500),
            nn.ReLU(),
            nn.Linear(500, 32),
        )
    # Caffe's pooling rounds its output size up: ceil_mode.
    return nn.Sequential(
        nn.Conv2d(3, 96, 11, stride=4),
        nn.ReLU(),
        nn.MaxPool2d(3, 2, ceil_mode=True),
        nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75),
        nn.Conv2d(96, 256, 5, padding=2, groups=2),
        nn.ReLU(),
        nn.MaxPool2d(3, 2, ceil_mode=True),
        nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75),
        nn.Conv2d(256, 384, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(384, 384, 3, padding=1, groups=2),
        nn.ReLU(),
        nn.Conv2d(384, 256, 3, padding=1, groups=2),
        nn.ReLU(),
        nn.MaxPool2d(3, 2, ceil_mode=True),
        nn.Flatten(),
        nn.Linear(256, 128),
    )


def torch_inputs(net, data, work):
    """(images_a, images_b, sims) as float tensors: the Fashion-MNIST pairs Caffe reads, scaled as
    Caffe scales them, or uniform random 64x64 RGB pairs, all similar, as Caffe's DummyData."""
    import torch

    if data == "fashion":
        from caffesiam.data.read import open_pairs

        a, b, sims = open_pairs(work / "fashion_mnist_siamese_train_leveldb", limit=40000)
        return (
            torch.from_numpy(a).float() / 256,
            torch.from_numpy(b).float() / 256,
            torch.from_numpy(sims).float(),
        )
    generator = torch.Generator().manual_seed(0)
    a, b = (torch.rand(512, 3, 64, 64, generator=generator) for _ in range(2))
    return a, b, torch.ones(512)


def torch_ms_per_iter(net, batch, iterations, threads, inputs):
    import torch

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    tower = torch_tower(net)
    opt = torch.optim.SGD(tower.parameters(), lr=0.01, momentum=0.9)
    a, b, y = inputs
    n = len(y)
    start = None
    for it in range(iterations + WARM_UP):
        if it == WARM_UP:  # warm-up excluded, as Caffe's first display interval is
            start = time.perf_counter()
        k = (it * batch) % (n - batch)
        d = torch.norm(tower(a[k : k + batch]) - tower(b[k : k + batch]), dim=1)
        t = y[k : k + batch]  # sim = 1: same class (Caffe's convention)
        loss = (t * d**2 + (1 - t) * torch.clamp(1 - d, min=0) ** 2).mean() / 2
        opt.zero_grad()
        loss.backward()
        opt.step()
    return (time.perf_counter() - start) / iterations * 1000


def caffesiam_ms_per_iter(work, solver, threads, caffe_home):
    from caffesiam.train.log import parse_lines

    for made in ("run", "snap"):  # train never overwrites a snapshot
        shutil.rmtree(work / made, ignore_errors=True)
    env = dict(os.environ, CAFFESIAM_CAFFE_HOME=str(caffe_home))
    done = subprocess.run(
        [TOOL, "train", str(solver), "--out", "run", "--blas-threads", str(threads)],
        cwd=work,
        capture_output=True,
        text=True,
        env=env,
    )
    if done.returncode:
        sys.exit(f"caffesiam train ({caffe_home}) failed:\n{done.stderr[-3000:]}")
    with open(work / "run" / CAFFE_LOG) as log:
        rates = [p.iters_per_s for p in parse_lines(log).train if p.iters_per_s]
    return 1000 / statistics.median(rates)


def bench_net(name, builds, work, args, rate):
    import torch
    import yaml

    spec, data, iterations, display = NETS[name]
    batch = yaml.safe_load(spec.read_text())["data"]["batch_size"]
    net = siamese_train_net(work, spec, data)
    solver, _ = tool(
        "gen-solver",
        net,
        "--max-iter",
        iterations,
        "--display",
        display,
        "--test-interval",
        100000,
        "--test-iter",
        1,
        "--snapshot",
        0,
        "--snapshot-prefix",
        work / "snap" / name,
        cwd=work,
    )
    solver_path = work / f"{name}_solver.prototxt"
    solver_path.write_text(solver.stdout)
    inputs = torch_inputs(name, data, work)
    runs = {label: [] for label in (*builds, "PyTorch")}
    print(f"{name}: {args.rounds} rounds ...", flush=True)
    for _ in range(args.rounds):
        for label, prefix in builds.items():
            runs[label].append(caffesiam_ms_per_iter(work, solver_path, args.threads, prefix))
        runs["PyTorch"].append(torch_ms_per_iter(name, batch, iterations, args.threads, inputs))
    floor, gflop = sgemm_floor_ms(net, rate)
    print(
        f"\n{name} ({spec.relative_to(REPO)}, {data} data), batch {batch}, {args.threads} threads "
        "on every "
        f"side, {iterations} iterations x {args.rounds} rounds:"
    )
    names = {
        "patched": "caffesiam, patched Caffe",
        "stock": "caffesiam, stock Caffe",
        "PyTorch": f"PyTorch {torch.__version__}",
    }
    # Other work on the machine only ever adds time: the best round is the least disturbed.
    for statistic, pick in (("median", statistics.median), ("best", min)):
        ms = {label: pick(times) for label, times in runs.items()}
        print(
            f"  {statistic} ms/iteration: "
            + ", ".join(
                f"{names[label]} {ms[label]:.1f} ({ms[label] / floor:.2f}x the floor)"
                for label in ms
            )
        )
        print(
            f"    ratios: patched / PyTorch = {ms['patched'] / ms['PyTorch']:.2f}, "
            f"stock / PyTorch = {ms['stock'] / ms['PyTorch']:.2f}, patched / stock = "
            f"{ms['patched'] / ms['stock']:.2f}"
        )
    for label, times in runs.items():
        print(f"  runs, {names[label]}: {[round(x, 1) for x in times]}")
    print(f"  sgemm floor {floor:.2f} ms ({gflop:.3f} GFLOP per iteration at {rate:.1f} GFLOP/s)")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--nets", default="lenet_relu,caffenet64")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    unknown = set(args.nets.split(",")) - set(NETS)
    if unknown:
        sys.exit(f"--nets: unknown {', '.join(sorted(unknown))} (known: {', '.join(NETS)})")
    try:
        import torch  # noqa: F401
    except ImportError:
        print("skipped: PyTorch is not installed (pip install torch==2.13.0)")
        return
    builds = {"patched": patched_caffe(), "stock": stock_caffe()}
    rate = sgemm_rate(args.threads)
    print(
        f"{os.cpu_count()} cores; OpenBLAS sgemm 2048^3 with {args.threads} threads: {rate:.1f} "
        "GFLOP/s"
    )
    with tempfile.TemporaryDirectory(prefix="bench_peer_") as work:
        for name in args.nets.split(","):
            bench_net(name, builds, Path(work), args, rate)


if __name__ == "__main__":
    main()
