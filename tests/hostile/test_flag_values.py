"""Class: flag values that are not finite, do not fit Caffe's fields, or cannot fit in memory or
on disk. Refused before the work, naming the flag (and, for sizes, what is needed and what the
machine has); nothing is written."""

import pytest
from conftest import REPO

from caffesiam.data.sources.mnist import FASHION_MNIST_DIR
from hostile.helpers import BIG, changes, refused, run, snapshot

pytestmark = [
    pytest.mark.caffe,
    pytest.mark.slow,
]  # one process per case: the battery as a whole is slow

SPEC = REPO / "templates/lenet.yaml"


def _cases(model, pair_db, images_dir, out):
    deploy, weights = model
    evaluate = ["evaluate", "--model", deploy, "--weights", weights, "--db", pair_db]
    embed = [
        "embed",
        "--model",
        deploy,
        "--weights",
        weights,
        "--db",
        pair_db,
        "-o",
        out.parent / "e.npz",
    ]
    return {
        "build-db digits --pairs": (
            ["build-db", "digits", "--out", out, "--pairs", 10**12],
            ["--pairs 1,000,000,000,000", "of memory", "available"],
        ),
        "build-db fashion-mnist --test-pairs": (
            ["build-db", "fashion-mnist", "--out", out, "--test-pairs", 10**13],
            ["--test-pairs 10,000,000,000,000", "of memory", "available"],
        ),
        "build-db mnist --pairs": (
            [
                "build-db",
                "mnist",
                "--source",
                FASHION_MNIST_DIR,
                "--out",
                out,
                "--split",
                "train",
                "--pairs",
                10**12,
                "--triplets",
            ],
            ["--pairs 1,000,000,000,000", "3 images", "of memory"],
        ),
        "build-db images --size": (
            ["build-db", "images", images_dir, "--out", out, "--size", "300000x300000"],
            ["12 images of 300000x300000", "of memory"],
        ),
        "build-db images --jitter inf": (
            ["build-db", "images", images_dir, "--out", out, "--augment", "--jitter", "shift=inf"],
            ["--jitter", "shift must be >= 0"],
        ),
        "build-db digits --jitter nan": (
            ["build-db", "digits", "--out", out, "--augment", "--jitter", "rotate=nan"],
            ["--jitter", "rotate must be >= 0"],
        ),
        "build-db digits --positive-ratio": (
            ["build-db", "digits", "--out", out, "--positive-ratio", "nan"],
            ["--positive-ratio", "'nan' is not a finite number"],
        ),
        "build-db images --test-fraction": (
            ["build-db", "images", images_dir, "--out", out, "--test-fraction", "-inf"],
            ["--test-fraction", "finite"],
        ),
        "build-db pairs --size": (
            ["build-db", "pairs", images_dir.parent / "pairs.txt", "--out", out, "--size", "0x5"],
            ["--size", "must be positive"],
        ),
        "build-db digits --seed": (
            ["build-db", "digits", "--out", out, "--seed", -1],
            ["--seed", "x>=0"],
        ),
        "gen-net --margin": (["gen-net", SPEC, "--margin", "nan"], ["--margin", "finite"]),
        "gen-net --q": (["gen-net", SPEC, "--loss", "chopra2005", "--q", "inf"], ["--q", "finite"]),
        "gen-net --batch-size": (
            ["gen-net", SPEC, "--batch-size", BIG],
            ["--batch-size", "2147483647"],
        ),
        "gen-net --deploy-batch": (
            ["gen-net", SPEC, "--deploy", "--deploy-batch", BIG],
            ["--deploy-batch", "2147483647"],
        ),
        "gen-solver --base-lr": (
            ["gen-solver", deploy, "--base-lr", "nan"],
            ["--base-lr", "finite"],
        ),
        "gen-solver --momentum": (
            ["gen-solver", deploy, "--momentum", "inf"],
            ["--momentum", "finite"],
        ),
        "gen-solver --max-iter": (
            ["gen-solver", deploy, "--max-iter", BIG],
            ["--max-iter", "2147483647"],
        ),
        "gen-solver --gamma": (["gen-solver", deploy, "--gamma", "-inf"], ["--gamma", "finite"]),
        "evaluate --scale": (evaluate + ["--scale", "inf"], ["--scale", "finite"]),
        "evaluate --margin": (evaluate + ["--margin", "nan"], ["--margin", "finite"]),
        "evaluate --batch-size": (evaluate + ["--batch-size", BIG], ["--batch-size", "2147483647"]),
        "evaluate --seed": (evaluate + ["--seed", -5], ["--seed", "x>=0"]),
        "embed --scale": (embed + ["--scale", "nan"], ["--scale", "finite"]),
        "embed --limit": (embed + ["--limit", 0], ["--limit", "x>=1"]),
        "inspect-db --show": (
            ["inspect-db", pair_db, "--show", 10**6, out / "x.png"],
            ["--show", "1<=x<=100"],
        ),
    }


NAMES = list(_cases(("m", "w"), "db", REPO, REPO))


@pytest.mark.parametrize("name", NAMES)
def test_flag_values(name, tmp_path, model, pair_db, images_dir):
    args, words = _cases(model, pair_db, images_dir, tmp_path / "out")[name]
    before = snapshot(tmp_path)
    refused(run(*args, timeout=60), 2, *words)
    assert changes(before, tmp_path) == set()


def test_pairs_that_fit_in_memory_but_not_on_disk(small_disk):
    out = small_disk(1024)
    refused(
        run("build-db", "fashion-mnist", "--split", "test", "--out", out, "--test-pairs", 2000),
        2,
        "--test-pairs 2,000",
        "needs 3.2 MB of disk",
        "is free where",
    )
    assert list(out.iterdir()) == []


def _all_params():
    """(command path, param) for every option and argument of every command and sub-command."""
    import importlib

    import click

    from caffesiam.commands import COMMANDS

    def walk(path, command):
        if isinstance(command, click.Group):
            for name, sub in command.commands.items():
                yield from walk(f"{path} {name}", sub)
        else:
            yield from ((path, param) for param in command.params)

    for name, target in COMMANDS.items():
        module, attr = target.split(":")
        yield from walk(
            name, getattr(importlib.import_module(f"caffesiam.commands.{module}"), attr)
        )


OUTPUTS = {"output", "out", "log_copy", "json_out", "roc_out", "plot", "csv_path"}


def test_every_flag_goes_through_the_shared_types():
    """The mechanism, not the examples: no command (a new one included) takes a float that may be
    nan or inf, an unbounded bare int, or an output path that is not checked before the work."""
    import click

    from caffesiam.commands.option_types import FiniteRange, OutputDir, OutputFile

    seen, wrong = 0, []
    for path, param in _all_params():
        types = param.type.types if isinstance(param.type, click.Tuple) else [param.type]
        for kind in types:
            seen += 1
            if isinstance(kind, click.types.FloatParamType) and not isinstance(kind, FiniteRange):
                wrong.append(f"{path} {param.name}: a float that may be nan or inf")
            if type(kind) is click.types.IntParamType:
                wrong.append(f"{path} {param.name}: an int without bounds")
        if param.name in OUTPUTS or param.name == "show":
            if not any(isinstance(kind, (OutputFile, OutputDir)) for kind in types):
                wrong.append(f"{path} {param.name}: an output not checked before the work")
    assert seen > 100 and wrong == []
