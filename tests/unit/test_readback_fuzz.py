"""Every file caffesiam writes and reads back, fuzzed: arbitrary bytes, arbitrary JSON, and a
sound file with a field dropped or given another value. Each reader, and what reads on from it
(sweep status, report and resume's engine; run-point's commands; inspect-db's images per
record; export's threshold; the ONNX runtime's metadata), either succeeds or raises BadInput
with one line, in process."""

import copy
import json
import os
import socket
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace
from unittest import mock

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from caffesiam.caffe import runner
from caffesiam.data.read import images_per_record
from caffesiam.deploy.metadata import (
    PREFIX,
    TowerMetadata,
    metadata_props,
    read_evaluation,
    tower_metadata,
)
from caffesiam.errors import BadInput
from caffesiam.evaluate.metrics import verification_report
from caffesiam.spec.yamlload import load_yaml
from caffesiam.sweep import report
from caffesiam.sweep.expand import expand
from caffesiam.sweep.rundirs import read_state, write_point, write_state
from caffesiam.sweep.scripts import command_script
from caffesiam.sweep.settings import EngineSettings, Machine, check_engine, merge_settings
from caffesiam.sweep.status import summary_lines, sweep_status
from caffesiam.sweep.task import train_argv

HOST = socket.gethostname()
MACHINE = Machine(cores=4, sbatch="/opt/slurm/bin/sbatch", docker="/usr/bin/docker")
SWEEP = (
    "spec: t.yaml\ndatabases: {d: {train: a, test: b}}\nsettings: {max_iter: 20}\n"
    "grid: {q: [1, 2]}\n"
)
LOG = (
    "I0101 00:00:00.000000 1 solver.cpp:218] Iteration 10 (5 iter/s, 2s/10 iters), loss = 0.5\n"
    "I0101 00:00:00.000001 1 solver.cpp:347] Iteration 10, Testing net (#0)\n"
    "I0101 00:00:00.000002 1 solver.cpp:414]     Test net output #0: loss = 0.25 (* 1 = 0.25)\n"
)
FUZZ = settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=12)
    | st.sampled_from(["", "\0", "\ud800", "../..", "--out", "running", "12"]),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


def _paths(document, at=()):
    """The path of every value inside `document` (its keys and indices), itself excluded."""
    items = (
        document.items()
        if isinstance(document, dict)
        else enumerate(document)
        if isinstance(document, list)
        else ()
    )
    for key, value in items:
        yield (*at, key)
        yield from _paths(value, (*at, key))


@st.composite
def mutated(draw, sound: dict) -> str:
    """`sound` with one value dropped or replaced by arbitrary JSON, as text."""
    document = copy.deepcopy(sound)
    path = draw(st.sampled_from(list(_paths(document))))
    parent = document
    for key in path[:-1]:
        parent = parent[key]
    if draw(st.booleans()):
        del parent[path[-1]]
    else:
        parent[path[-1]] = draw(json_values)
    return json.dumps(document)


def contents(sound: dict):
    """What a damaged copy of a file whose sound content is `sound` may hold, as bytes."""
    return st.one_of(
        st.binary(max_size=200),
        json_values.map(json.dumps).map(str.encode),
        mutated(sound).map(str.encode),
    )


def evaluation() -> dict:
    distances, sims = np.array([0.1, 0.2, 0.9, 1.2, 0.3, 1.1]), np.array([1, 1, 0, 0, 0, 1])
    return {**verification_report(distances, sims), "model": "deploy.prototxt", "mean": [0.0]}


USAGE = {
    "process": "caffe",
    "exit_status": 0,
    "wall_seconds": 4.5,
    "cpu_seconds": 4.0,
    "start_iteration": 0,
    "last_iteration": 20,
}


@pytest.fixture(scope="module")
def sound_sweep(tmp_path_factory) -> Path:
    """Two points, as `caffesiam sweep` leaves them: 0 evaluated, 1 running on Slurm, in a
    sweep whose local pool (this process) also ran; every record caffesiam reads back is here."""
    root = tmp_path_factory.mktemp("sweep")
    sweep = expand(load_yaml(SWEEP, "s.yaml"), "s.yaml", str(root), ["--blas-threads", "1"])
    for p in sweep.points:
        (root / p.name / "train").mkdir(parents=True)
        write_point(p, root / p.name, root / p.name, "s")
        (root / p.name / "train" / "usage.json").write_text(json.dumps(USAGE))
        (root / p.name / "train" / "caffe.log").write_text(LOG)
    write_state(
        root,
        {
            "name": "s",
            "source": "s.yaml",
            "keys": sweep.keys,
            "points": [p.name for p in sweep.points],
            "engine": EngineSettings("slurm", jobs=2).record(),
            "slurm_jobs": [{"id": "12", "indices": [0, 1], "sbatch": ["sbatch"], "submitted": 1.0}],
            "local_pool": {"host": HOST, "pid": os.getpid(), "indices": [1]},
        },
    )
    first, second = (root / p.name for p in sweep.points)
    (first / "eval.json").write_text(json.dumps(evaluation()))
    task = {"state": "running", "host": HOST, "pid": os.getpid(), "started": 1.0}
    (first / "task.json").write_text(json.dumps({**task, "state": "done", "ended": 2.0}))
    slurm = {"slurm_job_id": "13", "slurm_array_job_id": "12"}
    (second / "task.json").write_text(json.dumps({**task, **slurm}))
    return root


@contextmanager
def slurm_answers():
    """squeue and sacct as if installed: point 1 is running, point 0 ended."""
    said = {"squeue": "12_1|RUNNING|None\n", "sacct": "12_0|COMPLETED|0:0\n"}

    def capture(argv, **kwargs):
        return SimpleNamespace(returncode=0, stdout=said[Path(argv[0]).name])

    with (
        mock.patch.object(runner, "require", lambda name, package: name),
        mock.patch.object(runner, "capture", capture),
    ):
        yield


def read_back_sweep(sweep_dir: Path):
    """What status, report, resume and run-point read, and what they make of it."""
    with slurm_answers():
        statuses = sweep_status(sweep_dir)
    summary_lines(statuses, sweep_dir, every_point=True)
    results = report.collect(sweep_dir)
    report.results_csv(results, read_state(sweep_dir)["keys"])
    report.curve_panels(results)
    report.accuracy_bars(results)
    for s in statuses:
        command_script(s.point, sweep_dir / s.point.name, "s")
        train_argv(s.point, sweep_dir / s.point.name)
    check_engine(merge_settings(read_state(sweep_dir)["engine"]), MACHINE)  # as resume does


def read_back_or_refuse(read, *args):
    """Run `read`; a refusal must be BadInput on one line naming where it looked."""
    try:
        read(*args)
    except BadInput as e:
        said = str(e)
        assert said and "\n" not in said and "\r" not in said, said
        return said
    return None


@pytest.fixture
def sweep_with(sound_sweep):
    """with sweep_with(relative path, bytes): the sound sweep with that file replaced, put back
    after the block."""

    @contextmanager
    def damaged(relative: str, data: bytes):
        path = sound_sweep / relative
        sound = path.read_bytes()
        path.write_bytes(data)
        try:
            yield sound_sweep
        finally:
            path.write_bytes(sound)

    return damaged


def test_the_sound_sweep_reads_back(sound_sweep):
    assert read_back_or_refuse(read_back_sweep, sound_sweep) is None


def _sound(sweep_dir: Path, relative: str) -> dict:
    return json.loads((sweep_dir / relative).read_text())


POINT_0, POINT_1 = "0_q-1", "1_q-2"
SWEEP_FILES = {
    "sweep.json": "sweep.json",
    "point.json": f"{POINT_1}/point.json",
    "task.json": f"{POINT_1}/task.json",
    "eval.json": f"{POINT_0}/eval.json",
    "usage.json": f"{POINT_0}/train/usage.json",
}


# Each field of a sound file is dropped, or given each of these in turn.
WRONG = [True, -1, 2**70, float("nan"), "\0", "../x", [1], {}]


def every_damage(sound: dict):
    """`sound` with each of its values dropped, then replaced by each WRONG value, as bytes (of
    a list, its first item only)."""
    for path in (p for p in _paths(sound) if not any(k != 0 for k in p if type(k) is int)):
        for change in [None, *WRONG]:
            document = copy.deepcopy(sound)
            parent = document
            for key in path[:-1]:
                parent = parent[key]
            if change is None and path:
                del parent[path[-1]]
            else:
                parent[path[-1]] = change
            yield json.dumps(document).encode()


@pytest.mark.parametrize("name", SWEEP_FILES)
def test_every_field_of_a_sweep_record_dropped_or_wrong_reads_back_or_is_refused(
    name, sound_sweep, sweep_with
):
    relative = SWEEP_FILES[name]
    for data in every_damage(_sound(sound_sweep, relative)):
        with sweep_with(relative, data) as damaged:
            read_back_or_refuse(read_back_sweep, damaged)


@pytest.mark.parametrize("name", SWEEP_FILES)
def test_a_damaged_sweep_record_reads_back_or_is_refused(name, sound_sweep, sweep_with):
    relative = SWEEP_FILES[name]

    @FUZZ
    @given(data=contents(_sound(sound_sweep, relative)))
    def fuzz(data):
        with sweep_with(relative, data) as damaged:
            read_back_or_refuse(read_back_sweep, damaged)

    fuzz()


@FUZZ
@given(data=st.binary(max_size=300) | st.text(max_size=300).map(str.encode))
def test_a_damaged_training_log_reads_back(sweep_with, data):
    with sweep_with(f"{POINT_0}/train/caffe.log", LOG.encode() + data) as damaged:
        assert read_back_or_refuse(read_back_sweep, damaged) is None


MANIFEST = {
    "source": "fashion-mnist",
    "backend": "leveldb",
    "records": 64,
    "images_per_record": 2,
    "image_shape": [1, 28, 28],
    "record_shape": [2, 28, 28],
    "positives": 32,
    "negatives": 32,
    "label_convention": "sim=1 means the two images show the same class",
    "caffesiam_version": "0.1",
}


@FUZZ
@given(data=contents(MANIFEST))
def test_a_damaged_manifest_reads_back_or_is_refused(tmp_path, data):
    (tmp_path / "db.json").write_bytes(data)
    said = read_back_or_refuse(images_per_record, tmp_path / "db")
    assert said is None or str(tmp_path / "db.json") in said


@FUZZ
@given(data=contents(evaluation()))
def test_a_damaged_evaluation_for_export_reads_back_or_is_refused(tmp_path, data):
    (tmp_path / "eval.json").write_bytes(data)
    said = read_back_or_refuse(read_evaluation, tmp_path / "eval.json")
    assert said is None or str(tmp_path / "eval.json") in said


SOUND_META = TowerMetadata(0.00390625, (104.0,), "train", "feat", "contrastive", 1.0, 0.6, 0.9, "e")


@st.composite
def damaged_props(draw) -> dict:
    """The metadata_props of a sound export, one decoded value dropped or replaced, or the
    JSON text of one replaced by anything, or keys of caffesiam's with arbitrary text."""
    props = metadata_props(SOUND_META)
    decoded = {key: json.loads(value) for key, value in props.items()}
    choice = draw(st.integers(0, 2))
    if choice == 0:
        return {k: json.dumps(v) for k, v in json.loads(draw(mutated(decoded))).items()}
    if choice == 1:
        key = draw(st.sampled_from(sorted(props)))
        return {**props, key: draw(st.text(max_size=40))}
    keys = st.sampled_from(sorted(props)) | st.text(max_size=20).map(lambda t: PREFIX + t)
    return draw(
        st.dictionaries(keys, st.text(max_size=40) | json_values.map(json.dumps), max_size=8)
    )


@FUZZ
@given(props=damaged_props())
def test_damaged_onnx_metadata_reads_back_or_is_refused(props):
    said = read_back_or_refuse(tower_metadata, props, "m.onnx")
    assert said is None or said.startswith("m.onnx: ")
