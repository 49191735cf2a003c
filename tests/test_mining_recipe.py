"""scripts/mining_recipe.sh: the rounds of offline hard-negative mining, end to end at a tiny scale
(digits, 60 iterations a round, 2 rounds), and its refusals of bad settings."""

import json
import os
import re
import subprocess

import pytest
from conftest import REPO, VENV_BIN

SCRIPT = REPO / "scripts/mining_recipe.sh"


def recipe(work, **settings):
    env = dict(os.environ, CAFFESIAM=str(VENV_BIN / "caffesiam"), **settings)
    return subprocess.run(
        ["bash", str(SCRIPT), str(work)], capture_output=True, text=True, env=env, timeout=1200
    )


TINY = dict(ITERS="60", PAIRS="600", NEIGHBOURS="5", HARD_RATIO="0.5")


def _ok(done):
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done


@pytest.fixture(scope="module")
def two_rounds(tmp_path_factory):
    """(the recipe's work dir, what it printed) for 60 iterations, then 2 rounds of 60."""
    work = tmp_path_factory.mktemp("mining") / "recipe"
    return work, _ok(recipe(work, ROUNDS="2", **TINY))


@pytest.mark.caffe
@pytest.mark.slow
def test_rounds_train_mine_and_resume_then_evaluate_and_report_the_cpu_time(two_rounds):
    work, done = two_rounds
    cost = dict(re.findall(r"^(training|mining|total): +([0-9.]+) s", done.stdout, re.M))
    assert set(cost) == {"training", "mining", "total"}, done.stdout[-2000:]
    assert float(cost["training"]) > 0 and float(cost["mining"]) > 0
    assert float(cost["total"]) == pytest.approx(float(cost["training"]) + float(cost["mining"]))
    assert "180 iterations" in done.stdout and "the forward passes" in done.stdout

    for r, weights in ((1, "snap/net_iter_60.caffemodel"), (2, "snap/net_iter_120.caffemodel")):
        db = f"round{r}/digits_mined_siamese_train_leveldb"
        manifest = json.loads((work / f"{db}.json").read_text())
        assert manifest["mining"]["weights"] == weights
        assert manifest["mining"]["hard_negatives"] == 150  # half of 300 negatives
        assert manifest["seed"] == 1 + r
        assert f'source: "{db}"' in (work / f"round{r}/net.prototxt").read_text()
        log = (work / f"round{r}/train/caffe.log").read_text()
        assert f"Resuming from snap/net_iter_{60 * r}.solverstate" in log
    assert (work / "snap/net_iter_180.caffemodel").is_file()
    report = json.loads((work / "eval.json").read_text())
    assert report["weights"] == "snap/net_iter_180.caffemodel"
    assert report["retrieval"]["images"] == 1000  # the held-out digits


@pytest.mark.caffe
@pytest.mark.slow
def test_a_second_run_repeats_the_first(two_rounds, tmp_path):
    """The same settings give the same mined records and the same weights (one BLAS thread)."""
    import plyvel

    first, _ = two_rounds
    again = tmp_path / "again"
    _ok(recipe(again, ROUNDS="1", **TINY))
    db = "round1/digits_mined_siamese_train_leveldb"
    records = []
    for work in (first, again):
        handle = plyvel.DB(str(work / db))
        records.append(list(handle.iterator()))
        handle.close()
    assert records[0] == records[1]
    weights = "snap/net_iter_120.caffemodel"
    assert (first / weights).read_bytes() == (again / weights).read_bytes()


@pytest.mark.parametrize(
    "settings, words",
    [
        ({"DATASET": "cifar"}, "DATASET must be digits or fashion-mnist"),
        ({"ITERS": "ten"}, "ITERS must be a number"),
        ({"ITERS": "0"}, "ITERS must be at least 1"),
        ({"TRAIN_CLASSES": "0-5"}, "TRAIN_CLASSES and TEST_CLASSES together"),
    ],
)
def test_bad_settings_are_one_line_exit_2_and_make_nothing(tmp_path, settings, words):
    done = recipe(tmp_path / "recipe", **settings)
    assert done.returncode == 2 and done.stderr.strip().count("\n") == 0, done.stderr
    assert words in done.stderr
    assert not (tmp_path / "recipe").exists()


def test_an_existing_workdir_is_refused(tmp_path):
    done = recipe(tmp_path)
    assert done.returncode == 2 and "exists" in done.stderr
    assert list(tmp_path.iterdir()) == []
