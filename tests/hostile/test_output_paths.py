"""Class: output paths that are bad, found before the work (files.check_output); and commands
with several outputs write all of them or none (files.staged)."""

import os
import resource

import pytest
from conftest import REPO

from hostile.conftest import LOG_LINES
from hostile.helpers import changes, refused, run, snapshot

pytestmark = [
    pytest.mark.caffe,
    pytest.mark.slow,
]  # one process per case: the battery as a whole is slow

KINDS = {  # kind -> (the bad path, given tmp_path and the read-only dir; words of the one line)
    "missing folder": (lambda tmp, ro: tmp / "nowhere" / "x.png", "the folder"),
    "kernel filesystem": (lambda tmp, ro: "/proc/self/x.png", "kernel filesystem"),
    "a directory": (lambda tmp, ro: tmp, "directory"),
    "read-only": (lambda tmp, ro: ro / "x.png", "read-only filesystem"),
}


def _command(option, bad, tmp, model, pair_db, log_file, images_dir):
    deploy, weights = model
    evaluate = ["evaluate", "--model", deploy, "--weights", weights, "--db", pair_db]
    embed = ["embed", "--model", deploy, "--weights", weights]
    return {
        "gen-net -o": ["gen-net", REPO / "templates/lenet.yaml", "-o", bad],
        "gen-solver -o": ["gen-solver", deploy, "-o", bad],
        "draw -o": ["draw", deploy, "-o", bad],
        "plot-log -o": ["plot-log", log_file, "-o", bad],
        "plot-log --csv": ["plot-log", log_file, "-o", tmp / "ok.png", "--csv", bad],
        "inspect-db --show": ["inspect-db", pair_db, "--show", 4, bad],
        "evaluate --json": evaluate + ["--json", bad, "--roc", tmp / "ok.png"],
        "evaluate --roc": evaluate + ["--json", tmp / "ok.json", "--roc", bad],
        "embed -o": embed + ["--images", images_dir, "-o", bad, "--plot", tmp / "ok.png"],
        "embed --plot": embed + ["--images", images_dir, "-o", tmp / "ok.npz", "--plot", bad],
        "build-db --out": ["build-db", "images", images_dir, "--out", bad],
    }[option]


CASES = [
    ("gen-net -o", "missing folder"),
    ("gen-net -o", "kernel filesystem"),
    ("gen-solver -o", "missing folder"),
    ("gen-solver -o", "read-only"),
    ("draw -o", "missing folder"),
    ("draw -o", "a directory"),
    ("plot-log -o", "missing folder"),
    ("plot-log -o", "read-only"),
    ("plot-log --csv", "missing folder"),
    ("plot-log --csv", "kernel filesystem"),
    ("inspect-db --show", "missing folder"),
    ("inspect-db --show", "read-only"),
    ("evaluate --json", "missing folder"),
    ("evaluate --json", "a directory"),
    ("evaluate --roc", "missing folder"),
    ("evaluate --roc", "kernel filesystem"),
    ("embed -o", "missing folder"),
    ("embed -o", "read-only"),
    ("embed --plot", "missing folder"),
    ("embed --plot", "kernel filesystem"),
    ("build-db --out", "kernel filesystem"),
    ("build-db --out", "read-only"),
]


@pytest.mark.parametrize("option,kind", CASES)
def test_bad_output_path(
    option, kind, tmp_path, read_only_dir, model, pair_db, log_file, images_dir
):
    make, words = KINDS[kind]
    bad = make(tmp_path, read_only_dir)
    if option == "build-db --out" and kind == "read-only":
        bad = read_only_dir / "dbs"
    if kind == "read-only" and not os.path.ismount(read_only_dir):
        words = "no permission"  # not root: the fixture's mode-0555 folder, not a read-only mount
    before = snapshot(tmp_path)
    args = _command(option, bad, tmp_path, model, pair_db, log_file, images_dir)
    refused(run(*args), 2, "cannot write", str(bad), words)
    assert changes(before, tmp_path) == set()


def _file_size_limit(limit):
    return lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))


def _multi_output_case(name, tmp, model, pair_db, images_dir):
    """(argv, the outputs, the file-size limit that lets the first through and stops the second)."""
    deploy, weights = model
    if name == "plot-log":  # a long log: its CSV outweighs its PNG
        log = tmp / "long.log"
        log.write_text(
            "\n".join(
                LOG_LINES[2].replace("Iteration 10 ", f"Iteration {i} ")
                for i in range(10, 100000, 10)
            )
            + "\n"
        )
        png, csv = tmp / "curve.png", tmp / "metrics.csv"
        return ["plot-log", log, "-o", png, "--csv", csv], [png, csv], 200_000
    if name == "evaluate":  # the JSON is staged first, then the ROC picture
        out = [tmp / "report.json", tmp / "roc.png"]
        return (
            [
                "evaluate",
                "--model",
                deploy,
                "--weights",
                weights,
                "--db",
                pair_db,
                "--json",
                out[0],
                "--roc",
                out[1],
            ],
            out,
            20_000,
        )
    out = [tmp / "feats.npz", tmp / "embedding.png"]
    return (
        [
            "embed",
            "--model",
            deploy,
            "--weights",
            weights,
            "--images",
            images_dir,
            "-o",
            out[0],
            "--plot",
            out[1],
        ],
        out,
        20_000,
    )


@pytest.mark.parametrize("name", ["plot-log", "evaluate", "embed"])
def test_several_outputs_all_or_none(name, tmp_path, model, pair_db, images_dir):
    """The second output fails to write (a file-size limit: EFBIG, like a full disk for one file)
    after the first was written: neither appears, earlier versions stay, no temporary is left."""
    args, outputs, limit = _multi_output_case(name, tmp_path, model, pair_db, images_dir)
    for k, path in enumerate(outputs):
        path.write_text(f"earlier output {k}")
    before = snapshot(tmp_path)
    refused(
        run(*args, preexec_fn=_file_size_limit(limit)),
        1,
        "cannot write",
        str(outputs[1]),
        "File too large",
    )
    assert changes(before, tmp_path) == set()
    done = run(*args)  # without the limit both are written
    assert done.returncode == 0, done.stderr
    assert all(path.read_bytes()[:14] != b"earlier output" for path in outputs)


def test_gen_net_to_stdout_with_dash(tmp_path):
    """'-' is stdout for gen-net and gen-solver, not a file named '-'."""
    done = run("gen-net", REPO / "templates/lenet.yaml", "-o", "-", cwd=tmp_path)
    assert done.returncode == 0 and "layer {" in done.stdout and list(tmp_path.iterdir()) == []
