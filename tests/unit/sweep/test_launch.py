"""sweep.launch over a sweep directory written here (no Caffe, no process started): what resume
runs again, what it rewrites, and how the local pool, sbatch and the wait report back."""

import json
import os
import socket

import pytest

from caffesiam.spec.yamlload import load_yaml
from caffesiam.sweep import engines, launch
from caffesiam.sweep.expand import expand
from caffesiam.sweep.rundirs import read_point, read_state, write_point, write_state
from caffesiam.sweep.settings import EngineSettings, Machine
from caffesiam.sweep.status import DONE, FAILED, RUNNING, PointStatus

SWEEP = "spec: t.yaml\ndatabases: {d: {train: a, test: b}}\ngrid: {q: [1, 2, 3]}\n"
MACHINE = Machine(cores=6, sbatch="/opt/slurm/bin/sbatch")


@pytest.fixture
def sweep_dir(tmp_path):
    """Three points: 0 done, 1 failed, 2 running in this process; made by a 2-job local pool."""
    sweep = expand(load_yaml(SWEEP, "s.yaml"), "s.yaml", str(tmp_path), ["--blas-threads", "3"])
    for p in sweep.points:
        (tmp_path / p.name).mkdir()
        write_point(p, tmp_path / p.name, tmp_path / p.name, "s")
    write_state(
        tmp_path,
        {
            "name": "s",
            "keys": sweep.keys,
            "points": [p.name for p in sweep.points],
            "engine": EngineSettings("local", jobs=2).record(),
            "slurm_jobs": [],
        },
    )
    names = [p.name for p in sweep.points]
    evaluation = {"best_threshold_accuracy": 0.5, "best_threshold_all_pairs": 0.4}
    (tmp_path / names[0] / "eval.json").write_text(json.dumps(evaluation))
    (tmp_path / names[1] / "task.json").write_text(json.dumps({"state": FAILED, "step": "train"}))
    running = {"state": RUNNING, "host": socket.gethostname(), "pid": os.getpid()}
    (tmp_path / names[2] / "task.json").write_text(json.dumps(running))
    return tmp_path


def test_resume_runs_again_what_failed_and_leaves_what_runs(sweep_dir):
    plan = launch.plan_resume(sweep_dir, MACHINE, jobs=None, engine=None)
    assert plan.settings == EngineSettings("local", jobs=2)  # as the sweep was started
    assert [s.point.index for s in plan.todo] == [1]
    assert [(s.point.index, s.state) for s in plan.busy] == [(2, RUNNING)]


def test_resume_rewrites_the_train_command_for_the_engine_it_runs_on(sweep_dir):
    plan = launch.plan_resume(sweep_dir, MACHINE, jobs=1)
    launch.prepare_resume(sweep_dir, plan, MACHINE)
    again = sweep_dir / plan.todo[0].point.name
    assert read_point(again).commands["train"][-2:] == ["--blas-threads", "6"]  # 6 cores, 1 job
    assert "--blas-threads 6\n" in (again / "command.sh").read_text()
    untouched = sweep_dir / plan.busy[0].point.name
    assert read_point(untouched).commands["train"][-2:] == ["--blas-threads", "3"]
    assert read_state(sweep_dir)["engine"] == EngineSettings("local", jobs=1).record()


def test_the_local_pool_tells_each_end_and_each_failure(sweep_dir, monkeypatch):
    asked = {}

    def pool(where, indices, jobs, threads, on_done):
        asked.update(indices=indices, jobs=jobs, threads=threads)
        on_done(1, 0)
        on_done(2, 137)

    monkeypatch.setattr(engines, "run_local", pool)
    progress, failures = [], []
    settings = EngineSettings("local", jobs=2)
    ended = launch.run_local(sweep_dir, settings, MACHINE, [1, 2], progress.append, failures.append)
    assert asked == {"indices": [1, 2], "jobs": 2, "threads": 3}
    assert progress == [1, 1] and [d.index for d in failures] == [2]
    assert [(d.index, d.status) for d in ended] == [(1, 0), (2, 137)]
    assert failures[0].failure() == (
        f"point 2 (2_q-3) failed with status 137; see {sweep_dir / '2_q-3' / 'task.log'}"
    )


def test_submit_records_the_array_job_and_writes_its_script(sweep_dir, monkeypatch):
    submitted = []
    monkeypatch.setattr(engines, "submit", lambda argv: submitted.append(argv) or "77")
    settings = EngineSettings("slurm", jobs=1, partition="cpu", cpus_per_task=4)
    assert launch.submit(sweep_dir, settings, MACHINE, [1, 2]) == "77"
    argv = submitted[0]
    assert argv[0] == "/opt/slurm/bin/sbatch" and argv[-1] == str(sweep_dir / "sweep.sbatch")
    assert {"--job-name=caffesiam-s", "--array=1-2%1", "--cpus-per-task=4"} <= set(argv)
    assert "run-point" in (sweep_dir / "sweep.sbatch").read_text()
    job = read_state(sweep_dir)["slurm_jobs"][0]
    assert (job["id"], job["indices"], job["sbatch"]) == ("77", [1, 2], argv)


def test_wait_polls_until_nothing_is_active_and_reports_each_end(sweep_dir, monkeypatch):
    point = read_point(sweep_dir / "0_q-1")
    rounds = iter(
        [
            [PointStatus(point, RUNNING), PointStatus(point, RUNNING)],
            [PointStatus(point, DONE), PointStatus(point, RUNNING)],
            [PointStatus(point, DONE), PointStatus(point, FAILED)],
        ]
    )
    monkeypatch.setattr(launch, "sweep_status", lambda where: next(rounds))
    progress = []
    final = launch.wait(sweep_dir, 2, progress.append, poll_seconds=0)
    assert progress == [1, 1] and [s.state for s in final] == [DONE, FAILED]
