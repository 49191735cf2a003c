"""Class: where a training writes its run. A run directory is new, empty, or one of caffesiam's
own runs that stopped before Caffe started; never a database (the training's own train
database least of all), a folder inside one, or a folder of someone else's files. --out naming
one of those is one line and exit 2 with nothing written; the default run directory passes
over a folder that is not a run."""

import os
import shutil

import pytest
from conftest import REPO

from caffesiam.train.rundir import (
    BLAS_THREADS_JSON,
    CAFFE_LOG,
    LOSS_PNG,
    METRICS_CSV,
    RUN_SOLVER,
    USAGE_JSON,
)
from hostile.helpers import changes, refused, run, snapshot

pytestmark = [pytest.mark.caffe, pytest.mark.slow]  # real Caffe set-ups and a short training

RUN_FILES = {BLAS_THREADS_JSON, CAFFE_LOG, LOSS_PNG, METRICS_CSV, RUN_SOLVER, USAGE_JSON}


@pytest.fixture
def work(tmp_path, pair_db):
    """train_leveldb and test_leveldb (copies of the shared pair database), a lenet net reading
    them and its solver: one iteration, snapshots at snap/lenet."""
    for name in ("train_leveldb", "test_leveldb"):
        shutil.copytree(pair_db, tmp_path / name)
    sources = ["--train-source", "train_leveldb", "--test-source", "test_leveldb"]
    net = [
        "gen-net",
        REPO / "templates/lenet.yaml",
        *sources,
        "--batch-size",
        4,
        "-o",
        "net.prototxt",
    ]
    assert run(*net, cwd=tmp_path).returncode == 0
    solver = ["gen-solver", "net.prototxt", "--max-iter", 1, "--snapshot-prefix", "snap/lenet"]
    assert run(*solver, "-o", "solver.prototxt", cwd=tmp_path).returncode == 0
    return tmp_path


def train(work, *args):
    return run("train", "solver.prototxt", "--blas-threads", 1, *args, cwd=work, timeout=300)


def _no_run_files_in(folder):
    assert not RUN_FILES & set(os.listdir(folder)), sorted(os.listdir(folder))


def test_out_is_the_trainings_own_database(work):
    line = refused(train(work, "--out", "train_leveldb"), 2, "train_leveldb", "leveldb database")
    assert "--out" in line
    _no_run_files_in(work / "train_leveldb")
    assert not (work / "snap").exists()


def test_out_is_an_lmdb(work):
    assert run("build-db", "digits", "--backend", "lmdb", "--out", work / "l").returncode == 0
    db = work / "l" / "digits_siamese_test_lmdb"
    before = snapshot(db)
    refused(train(work, "--out", db), 2, str(db), "lmdb database")
    assert changes(before, db) == set()


def test_out_inside_a_database(work):
    refused(train(work, "--out", "test_leveldb/run"), 2, "test_leveldb", "inside")
    assert not (work / "test_leveldb" / "run").exists()


def test_out_is_a_folder_of_other_files(work):
    other = work / "thesis"
    other.mkdir()
    (other / "chapter1.tex").write_text("years of work")
    before = snapshot(other)
    refused(train(work, "--out", other), 2, str(other), "chapter1.tex", "not a caffesiam run")
    assert changes(before, other) == set()


def test_default_run_dir_passes_over_a_folder_of_other_files(work):
    other = work / "snap" / "lenet_run"
    other.mkdir(parents=True)
    (other / "notes.txt").write_text("mine")
    before = snapshot(other)
    done = train(work)
    assert done.returncode == 0, done.stderr[-2000:]
    assert changes(before, other) == set()
    assert (work / "snap" / "lenet_run2" / CAFFE_LOG).exists()


@pytest.mark.parametrize("left", ["nothing", "a run that stopped before Caffe"])
def test_out_may_be_empty_or_a_run_that_never_started(left, work):
    out = work / "run"
    out.mkdir()
    if left != "nothing":
        (out / RUN_SOLVER).write_text("max_iter: 1\n")
        (out / BLAS_THREADS_JSON).write_text("{}\n")
    done = train(work, "--out", out)
    assert done.returncode == 0, done.stderr[-2000:]
    assert (out / CAFFE_LOG).exists()
