"""Class: files caffesiam wrote and reads back (sweep, point and task state, eval.json,
usage.json, caffe.log, database manifests, ONNX metadata), found damaged.

Each is read through its declared schema: exit 2, one line naming the file and the field and what
was expected; never an internal error, a traceback, a hang or a silent guess.
"""

import json
import os
import shutil
import socket

import pytest

from hostile.helpers import changes, refused, run, snapshot
from hostile.sweeps import copy_sweep, finish, make_sweep, point_dirs

pytestmark = [
    pytest.mark.caffe,
    pytest.mark.slow,
]  # one process per case: the battery as a whole is slow


@pytest.fixture(scope="module")
def made_sweep(tmp_path_factory, pair_db):
    """A two-point sweep whose first point has finished."""
    sweep_dir = make_sweep(tmp_path_factory.mktemp("readback"), pair_db)
    finish(point_dirs(sweep_dir)[0])
    return sweep_dir


def _edit_json(path, change):
    data = json.loads(path.read_text())
    path.write_text(json.dumps(change(data)))


def _state(change):
    return lambda d: _edit_json(d / "sweep.json", change)


def _point(k, change):
    return lambda d: _edit_json(point_dirs(d)[k] / "point.json", change)


def _write(relative, data: bytes, point=None):
    def damage(d):
        where = d if point is None else point_dirs(d)[point]
        (where / relative).write_bytes(data)

    return damage


def _without(data, key):
    return {k: v for k, v in data.items() if k != key}


def _setting(data, key, value):
    return {**data, "settings": {**data["settings"], key: value}}


def _no_out(data):
    train = [a for a in data["commands"]["train"] if a not in ("--out", "train")]
    return {**data, "commands": {**data["commands"], "train": train}}


def _untrained_with_a_run(k, change):
    def damage(d):
        (point_dirs(d)[k] / "train").mkdir()
        _point(k, change)(d)

    return damage


def _task(task):
    return _write("task.json", json.dumps(task).encode(), point=1)


def _fifo(relative, point):
    def damage(d):
        path = point_dirs(d)[point] / relative
        path.unlink()
        os.mkfifo(path)

    return damage


BINARY = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\xff\xfe"
RUNNING_HERE = {"state": "running", "host": socket.gethostname(), "pid": 2**70}

# name -> (damage to the sweep directory, the command after `sweep`, words of the one line)
CASES = {
    "sweep.json a list": (_write("sweep.json", b"[1, 2]"), ["status"], ["sweep.json", "object"]),
    "sweep.json empty object": (_write("sweep.json", b"{}"), ["status"], ["sweep.json", "name"]),
    "sweep.json points not names": (
        _state(lambda s: {**s, "points": [1, 2]}),
        ["status"],
        ["sweep.json", "points[0]"],
    ),
    "sweep.json point outside": (
        _state(lambda s: {**s, "points": ["../../escape"]}),
        ["status"],
        ["sweep.json", "points[0]"],
    ),
    "sweep.json points a string": (
        _state(lambda s: {**s, "points": "abc"}),
        ["run-point", "{dir}", "0"],
        ["sweep.json", "points"],
    ),
    "sweep.json keys not text": (
        _state(lambda s: {**s, "keys": [["feature_size"]]}),
        ["report"],
        ["sweep.json", "keys[0]"],
    ),
    "sweep.json slurm job not a record": (
        _state(lambda s: {**s, "slurm_jobs": [5]}),
        ["status"],
        ["sweep.json", "slurm_jobs[0]"],
    ),
    "sweep.json engine jobs a word": (
        _state(lambda s: {**s, "engine": {**s["engine"], "jobs": "two"}}),
        ["resume"],
        ["sweep.json", "engine.jobs"],
    ),
    "point.json binary": (_write("point.json", BINARY, point=0), ["status"], ["point.json"]),
    "point.json no settings": (
        _point(0, lambda p: _without(p, "settings")),
        ["status"],
        ["point.json", "settings"],
    ),
    "point.json max_iter a word": (
        _point(1, lambda p: _setting(p, "max_iter", "abc")),
        ["status"],
        ["point.json", "settings.max_iter"],
    ),
    "point.json index elsewhere": (
        _point(0, lambda p: {**p, "index": 7}),
        ["status"],
        ["point.json", "index"],
    ),
    "point.json train without --out": (
        _untrained_with_a_run(1, _no_out),
        ["run-point", "{dir}", "1"],
        ["point.json", "commands.train"],
    ),
    "eval.json accuracy a word": (
        lambda d: _edit_json(
            point_dirs(d)[0] / "eval.json", lambda e: {**e, "best_threshold_accuracy": "high"}
        ),
        ["status"],
        ["eval.json", "best_threshold_accuracy"],
    ),
    "eval.json a list": (_write("eval.json", b"[1]", point=0), ["status"], ["eval.json", "object"]),
    "usage.json seconds a word": (
        _write("train/usage.json", b'{"wall_seconds": "10"}', point=0),
        ["report"],
        ["usage.json", "wall_seconds"],
    ),
    "usage.json binary": (
        _write("train/usage.json", BINARY, point=0),
        ["report"],
        ["usage.json", "UTF-8"],
    ),
    "task.json pid past any": (_task(RUNNING_HERE), ["status"], ["task.json", "pid"]),
    "task.json a list": (_write("task.json", b"[1]", point=1), ["status"], ["task.json", "object"]),
    "caffe.log a FIFO": (_fifo("train/caffe.log", 0), ["status"], ["caffe.log", "FIFO"]),
}


@pytest.mark.parametrize("name", CASES)
def test_damaged_sweep_file(name, made_sweep, tmp_path):
    damage, command, words = CASES[name]
    sweep_dir = copy_sweep(made_sweep, tmp_path)
    damage(sweep_dir)
    args = [a.format(dir=sweep_dir) for a in command]
    args = args if "{dir}" in command else [*args, sweep_dir]
    before = snapshot(sweep_dir) if name != "caffe.log a FIFO" else None
    refused(run("sweep", *args, timeout=30), 2, *words)
    if before is not None:
        assert changes(before, sweep_dir) == set()


def test_the_undamaged_sweep_reads_back(made_sweep, tmp_path):
    sweep_dir = copy_sweep(made_sweep, tmp_path)
    status = run("sweep", "status", sweep_dir)
    assert status.returncode == 0 and "1 done, 1 not started (of 2)" in status.stdout, status
    report = run("sweep", "report", sweep_dir)
    assert report.returncode == 0, report.stderr
    rows = (sweep_dir / "results.csv").read_text().splitlines()
    assert len(rows) == 3 and rows[1].split(",")[3] == "0.75"


@pytest.fixture
def damaged_manifest(pair_db, tmp_path):
    """set(text) -> a copy of the pair database whose manifest holds `text`."""

    def make(text: bytes):
        db = tmp_path / pair_db.name
        shutil.copytree(pair_db, db)
        db.with_name(db.name + ".json").write_bytes(text)
        return db

    return make


@pytest.mark.parametrize(
    "text, words",
    [
        (b'{"images_per_record": "three"}', ["images_per_record"]),
        (b'{"backend": "leveldb", "records": 64', ["not JSON"]),
    ],
)
def test_damaged_manifest(damaged_manifest, text, words):
    db = damaged_manifest(text)
    refused(run("inspect-db", db), 2, db.name + ".json", *words)


DEEP = b"[" * 100_000 + b"]" * 100_000


def test_evaluation_report_nested_past_any(model, tmp_path):
    deploy, weights = model
    evaluation = tmp_path / "eval.json"
    evaluation.write_bytes(b'{"best_threshold_all_pairs": ' + DEEP + b"}")
    out = tmp_path / "tower.onnx"
    args = ["export", deploy, weights, "-o", out, "--evaluation", evaluation]
    refused(run(*args), 2, "eval.json", "nested")
    assert not out.exists()


def test_onnx_metadata_nested_past_any(model, images_dir, tmp_path):
    import onnx

    deploy, weights = model
    tower = tmp_path / "tower.onnx"
    assert run("export", deploy, weights, "-o", tower).returncode == 0
    proto = onnx.load(tower)
    for prop in proto.metadata_props:
        if prop.key == "caffesiam.input_mean":
            prop.value = DEEP.decode()
    onnx.save(proto, tower)
    args = ["embed", "--onnx", tower, "--images", images_dir, "-o", tmp_path / "f.npz"]
    refused(run(*args), 2, "tower.onnx", "caffesiam.input_mean", "nested")


def test_text_from_the_state_is_drawn_as_text_not_parsed_as_math(made_sweep, tmp_path):
    """A sweep name and a point's settings reach the charts' titles and labels: a '$' in them is
    a dollar sign, not the start of matplotlib's math text (which refuses '$\\foo$')."""
    sweep_dir = copy_sweep(made_sweep, tmp_path)
    _state(lambda s: {**s, "name": "$\\foo$"})(sweep_dir)
    _point(0, lambda p: {**p, "varying": {"feature_size": "$^$"}})(sweep_dir)
    done = run("sweep", "report", sweep_dir)
    assert done.returncode == 0, done.stderr
