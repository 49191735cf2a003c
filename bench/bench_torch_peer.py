"""Peer: the same siamese nets in PyTorch on the CPU vs caffesiam train, per-iteration time.

    bench/bench_torch_peer.py [--threads N] [--with-stock]

Two nets: Caffe's example LeNet tower (templates/lenet.yaml) and make demo's (lenet_relu.yaml),
the same layers in PyTorch. Both sides train on real Fashion-MNIST pairs at batch 64 for the
same number of iterations, in one run, alternating, with the same threads (default all cores:
caffesiam train --blas-threads N, torch.set_num_threads(N)). --with-stock adds caffesiam on stock
Caffe (built by install_caffe.sh --stock, cached). PyTorch is not a caffesiam dependency:
`pip install torch==2.13.0` first. caffesiam's time per iteration comes from its own log (iters/s
of the displayed intervals), which leaves out Caffe's start-up, as the PyTorch loop does.
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

from benchutil import stock_caffe

REPO = Path(__file__).resolve().parents[1]
CS = str(Path(sys.executable).parent / "caffesiam")
ITERS, BATCH, ROUNDS = 500, 64, 3


def torch_tower(net):
    """The template's tower in PyTorch (Caffe's default weight init is not reproduced)."""
    from torch import nn

    if net == "lenet":
        return nn.Sequential(nn.Conv2d(1, 20, 5), nn.MaxPool2d(2), nn.Conv2d(20, 50, 5), nn.MaxPool2d(2),
                             nn.Flatten(), nn.Linear(800, 500), nn.ReLU(), nn.Linear(500, 10), nn.Linear(10, 2))
    return nn.Sequential(nn.Conv2d(1, 20, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(20, 50, 5), nn.ReLU(),
                         nn.MaxPool2d(2), nn.Flatten(), nn.Linear(800, 500), nn.ReLU(), nn.Linear(500, 32))


def torch_ms_per_iter(net, threads, images_a, images_b, sims):
    import torch

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    tower = torch_tower(net)
    opt = torch.optim.SGD(tower.parameters(), lr=0.01, momentum=0.9)
    a = torch.from_numpy(images_a).float() / 256
    b = torch.from_numpy(images_b).float() / 256
    y = torch.from_numpy(sims).float()
    n = len(y)
    start = None
    for it in range(ITERS + 20):
        if it == 20:  # warm-up excluded, as Caffe's first display interval is
            start = time.perf_counter()
        k = (it * BATCH) % (n - BATCH)
        d = torch.norm(tower(a[k:k + BATCH]) - tower(b[k:k + BATCH]), dim=1)
        t = y[k:k + BATCH]  # sim = 1: same class (Caffe's convention)
        loss = (t * d ** 2 + (1 - t) * torch.clamp(1 - d, min=0) ** 2).mean() / 2
        opt.zero_grad()
        loss.backward()
        opt.step()
    return (time.perf_counter() - start) / ITERS * 1000


def caffesiam_ms_per_iter(work, net, threads, caffe_home=None):
    shutil.rmtree(work / "snap", ignore_errors=True)
    shutil.rmtree(work / "run", ignore_errors=True)
    env = dict(os.environ, **({"CAFFESIAM_CAFFE_HOME": str(caffe_home)} if caffe_home else {}))
    subprocess.run([CS, "train", f"{net}_solver.prototxt", "--out", "run", "--blas-threads", str(threads)],
                   cwd=work, check=True, capture_output=True, env=env)
    from caffesiam.train.log import parse_lines

    rates = [p.iters_per_s for p in parse_lines(open(work / "run/caffe.log")).train if p.iters_per_s]
    return 1000 / statistics.median(rates)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--with-stock", action="store_true")
    args = parser.parse_args()
    try:
        import torch
    except ImportError:
        print("skipped: PyTorch is not installed (pip install torch==2.13.0)")
        return
    from caffesiam.data.read import open_pairs

    stock = stock_caffe() if args.with_stock else None
    work = Path(tempfile.mkdtemp(prefix="bench_peer_"))
    subprocess.run([CS, "build-db", "fashion-mnist", "--out", str(work), "--pairs", "40000",
                    "--test-pairs", "1000"], check=True, capture_output=True)
    a, b, sims = open_pairs(work / "fashion_mnist_siamese_train_leveldb", limit=ITERS * BATCH)
    print(f"batch {BATCH}, CPU ({os.cpu_count()} cores), {args.threads} threads on every side, "
          f"{ITERS} iterations x {ROUNDS} rounds, medians")
    for net in ("lenet", "lenet_relu"):
        text = subprocess.run([CS, "gen-net", str(REPO / f"templates/{net}.yaml"), "--train-source",
                               "fashion_mnist_siamese_train_leveldb", "--test-source",
                               "fashion_mnist_siamese_test_leveldb"], check=True, capture_output=True, text=True)
        (work / f"{net}.prototxt").write_text(text.stdout)
        solver = subprocess.run([CS, "gen-solver", f"{net}.prototxt", "--max-iter", str(ITERS), "--display", "50",
                                 "--test-interval", "100000", "--test-iter", "1", "--snapshot", "0",
                                 "--snapshot-prefix", "snap/net"], cwd=work, check=True, capture_output=True,
                                text=True)
        (work / f"{net}_solver.prototxt").write_text(solver.stdout)
        runs = {"caffesiam": [], "PyTorch": []}
        if stock:
            runs["caffesiam on stock Caffe"] = []
        for _ in range(ROUNDS):
            runs["caffesiam"].append(caffesiam_ms_per_iter(work, net, args.threads))
            runs["PyTorch"].append(torch_ms_per_iter(net, args.threads, a, b, sims))
            if stock:
                runs["caffesiam on stock Caffe"].append(caffesiam_ms_per_iter(work, net, args.threads, stock))
        median = {k: statistics.median(v) for k, v in runs.items()}
        print(f"{net} (templates/{net}.yaml), PyTorch {torch.__version__}:")
        for label, times in runs.items():
            print(f"  {label:26s} {median[label]:6.1f} ms/iteration   runs {[round(x, 1) for x in times]}")
        print(f"  ratio caffesiam / PyTorch = {median['caffesiam'] / median['PyTorch']:.2f}"
              + (f"   (stock Caffe: {median['caffesiam on stock Caffe'] / median['PyTorch']:.2f})" if stock else ""))
    shutil.rmtree(work)


if __name__ == "__main__":
    main()
