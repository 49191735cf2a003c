"""Train the LeNet tower (2-D embedding) on Fashion-MNIST with each loss and evaluate it
(real Caffe; not part of the test suite).

Every loss uses the same recipe: gen-solver defaults, N iterations (default 3,000), CPU with one
BLAS thread per run. Pair losses train on balanced pairs and triplet on `--triplets` records; all
are evaluated by `caffesiam evaluate` with the one-tower deploy net on the same Fashion-MNIST test
pairs, so the numbers compare directly.

Usage: .venv/bin/python bench/loss_recipes.py [WORKDIR] [--iters N] [--jobs J] [--losses a,b]
Writes WORKDIR/<loss>/{eval.json,roc.png}, WORKDIR/summary.json and prints one line per loss.
"""

import argparse
import json
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from benchutil import tool

from caffesiam.train.rundir import CAFFE_LOG

REPO = Path(__file__).resolve().parents[1]
LENET = REPO / "templates" / "lenet.yaml"
LOSSES = ("contrastive", "contrastive-legacy", "chopra2005", "triplet")
# LMDB: concurrent runs can read one database (a LevelDB is locked by the first Caffe to open it).
PAIRS = {split: f"fashion_mnist_siamese_{split}_lmdb" for split in ("train", "test")}
TRIPLETS = {split: f"fashion_mnist_triplet_{split}_lmdb" for split in ("train", "test")}


def build_databases(root: Path):
    """Fashion-MNIST pairs and triplets, one record per image (60,000 train, 10,000 test)."""
    for flags, names in (([], PAIRS), (["--triplets"], TRIPLETS)):
        if not all((root / n).exists() for n in names.values()):
            tool(
                "build-db",
                "fashion-mnist",
                *flags,
                "--backend",
                "lmdb",
                "--out",
                ".",
                "--force",
                cwd=root,
            )


def run(loss: str, root: Path, iters: int) -> dict:
    work = root / loss
    work.mkdir(parents=True, exist_ok=True)
    dbs = TRIPLETS if loss == "triplet" else PAIRS
    tool(
        "gen-net",
        LENET,
        "--loss",
        loss,
        "--backend",
        "lmdb",
        "--train-source",
        root / dbs["train"],
        "--test-source",
        root / dbs["test"],
        "-o",
        "net.prototxt",
        cwd=work,
    )
    tool("gen-net", LENET, "--deploy", "-o", "deploy.prototxt", cwd=work)
    tool(
        "gen-solver",
        "net.prototxt",
        "--max-iter",
        iters,
        "--snapshot-prefix",
        "snap/net",
        "-o",
        "solver.prototxt",
        cwd=work,
    )
    for old in list((work / "snap").glob("net_iter_*")) + list(
        work.glob(f"snap/net_run*/{CAFFE_LOG}")
    ):
        old.unlink()
    _, train_s = tool("train", "solver.prototxt", "--blas-threads", "1", cwd=work)
    weights = work / "snap" / f"net_iter_{iters}.caffemodel"
    tool(
        "evaluate",
        "--model",
        "deploy.prototxt",
        "--weights",
        weights,
        "--scale",
        0.00390625,
        "--db",
        root / PAIRS["test"],
        "--json",
        "eval.json",
        "--roc",
        "roc.png",
        cwd=work,
    )
    result = json.loads((work / "eval.json").read_text())
    result["train_seconds"] = round(train_s, 1)
    return result


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", nargs="?", default="/tmp/caffesiam_loss_recipes")
    parser.add_argument("--iters", type=int, default=3000)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--losses", default=",".join(LOSSES))
    args = parser.parse_args(argv)
    root = Path(args.root).resolve()
    root.mkdir(parents=True, exist_ok=True)
    build_databases(root)
    losses = args.losses.split(",")
    with ThreadPoolExecutor(args.jobs) as pool:
        results = dict(zip(losses, pool.map(lambda loss: run(loss, root, args.iters), losses)))
    keys = ("best_threshold_accuracy", "auc", "eer", "pairs", "train_seconds")
    summary = {loss: {k: r.get(k) for k in keys} for loss, r in results.items()}
    (root / "summary.json").write_text(json.dumps({"iterations": args.iters, **summary}, indent=2))
    for loss, r in results.items():
        print(
            f"{loss}: {args.iters} iterations, best-threshold pair accuracy (held out) "
            f"{r['best_threshold_accuracy']:.2%}, AUC {r['auc']:.4f}, EER {r['eer']:.2%}, "
            f"{r['pairs']} test pairs, train {r['train_seconds']:.0f} s"
        )


if __name__ == "__main__":
    main(sys.argv[1:])
