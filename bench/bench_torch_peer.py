"""Peer: the same LeNet siamese in PyTorch on the CPU vs caffesiam train, per-iteration time.

Both train on real Fashion-MNIST pairs at batch 64 for the same number of iterations, in one
run, alternating. PyTorch is not a caffesiam dependency: `pip install torch==2.13.0` first.
caffesiam's time per iteration comes from its own log (iters/s of the displayed intervals),
which leaves out Caffe's start-up, as the PyTorch loop does.
"""

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CS = str(Path(sys.executable).parent / "caffesiam")
ITERS, BATCH, ROUNDS = 500, 64, 3


def torch_ms_per_iter(images_a, images_b, sims):
    import torch
    from torch import nn

    torch.manual_seed(0)
    tower = nn.Sequential(nn.Conv2d(1, 20, 5), nn.MaxPool2d(2), nn.Conv2d(20, 50, 5), nn.MaxPool2d(2),
                          nn.Flatten(), nn.Linear(800, 500), nn.ReLU(), nn.Linear(500, 10), nn.Linear(10, 2))
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


def caffesiam_ms_per_iter(work):
    shutil.rmtree(work / "snap", ignore_errors=True)
    shutil.rmtree(work / "run", ignore_errors=True)
    subprocess.run([CS, "train", "solver.prototxt", "--out", "run"], cwd=work, check=True,
                   capture_output=True)
    from caffesiam.train.log import parse_lines

    rates = [p.iters_per_s for p in parse_lines(open(work / "run/caffe.log")).train if p.iters_per_s]
    return 1000 / statistics.median(rates)


def main():
    try:
        import torch
    except ImportError:
        print("skipped: PyTorch is not installed (pip install torch==2.13.0)")
        return
    from caffesiam.data.read import open_pairs

    work = Path(tempfile.mkdtemp(prefix="bench_peer_"))
    subprocess.run([CS, "build-db", "fashion-mnist", "--out", str(work), "--pairs", "40000",
                    "--test-pairs", "1000"], check=True, capture_output=True)
    net = subprocess.run([CS, "gen-net", str(REPO / "templates/lenet.yaml"), "--train-source",
                          "fashion_mnist_siamese_train_leveldb", "--test-source",
                          "fashion_mnist_siamese_test_leveldb"], check=True, capture_output=True, text=True)
    (work / "net.prototxt").write_text(net.stdout)
    solver = subprocess.run([CS, "gen-solver", "net.prototxt", "--max-iter", str(ITERS), "--display", "50",
                             "--test-interval", "100000", "--test-iter", "1", "--snapshot", "0",
                             "--snapshot-prefix", "snap/lenet"], cwd=work, check=True, capture_output=True,
                            text=True)
    (work / "solver.prototxt").write_text(solver.stdout)
    a, b, sims = open_pairs(work / "fashion_mnist_siamese_train_leveldb", limit=ITERS * BATCH)
    ours, peer = [], []
    for _ in range(ROUNDS):
        ours.append(caffesiam_ms_per_iter(work))
        peer.append(torch_ms_per_iter(a, b, sims))
    o, p = statistics.median(ours), statistics.median(peer)
    print(f"LeNet siamese, batch {BATCH}, CPU ({os.cpu_count()} cores), {ITERS} iterations x {ROUNDS} rounds")
    print(f"  caffesiam train: {o:.1f} ms/iteration   runs {[round(x, 1) for x in ours]}")
    print(f"  PyTorch {torch.__version__} ({torch.get_num_threads()} threads): {p:.1f} ms/iteration   "
          f"runs {[round(x, 1) for x in peer]}")
    print(f"  ratio caffesiam / PyTorch = {o / p:.2f}")
    shutil.rmtree(work)


if __name__ == "__main__":
    main()
