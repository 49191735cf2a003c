"""sweep.status: a point's state from the files in its run directory and Slurm's word, and the
summary `sweep status` prints."""

import json
import os
import socket
from pathlib import Path

import pytest

from caffesiam.sweep.engines import TaskState
from caffesiam.sweep.expand import Point
from caffesiam.sweep.status import (
    CANCELLED,
    DONE,
    FAILED,
    INTERRUPTED,
    NOT_STARTED,
    PENDING,
    RUNNING,
    PointStatus,
    point_list,
    point_status,
    summary_lines,
)

POINT = Point(2, "2_q-3", {"q": 3}, {"q": 3, "max_iter": 40}, {"q": 3})
HERE = socket.gethostname()


def status_of(where: Path, task: dict | None = None, slurm: TaskState | None = None):
    return point_status(POINT, where, task or {}, slurm)


def test_a_point_with_eval_json_is_done_with_its_accuracy(tmp_path):
    evaluation = {"best_threshold_accuracy": 0.875, "best_threshold_all_pairs": 0.6}
    (tmp_path / "eval.json").write_text(json.dumps(evaluation))
    status = status_of(tmp_path, {"state": FAILED})  # the files win over the task's record
    assert (status.state, status.accuracy, status.active) == (DONE, 0.875, False)


def test_its_iteration_is_the_last_any_training_logged(tmp_path):
    for run, last in (("train", 20), ("train_2", 35)):
        (tmp_path / run).mkdir()
        (tmp_path / run / "caffe.log").write_text(
            f"I0101 00:00:00.000000 1 solver.cpp:218] Iteration {last} (1 iter/s, 1s/1 iters), "
            f"loss = 0.5\n"
        )
    assert status_of(tmp_path).iteration == 35


@pytest.mark.parametrize(
    "task, state, detail",
    [
        ({}, NOT_STARTED, ""),
        ({"state": RUNNING, "host": HERE, "pid": os.getpid()}, RUNNING, ""),
        ({"state": RUNNING, "host": "elsewhere", "pid": 1}, RUNNING, ""),
        ({"state": INTERRUPTED, "step": "train"}, CANCELLED, "interrupted in train"),
        ({"state": FAILED, "step": "evaluate", "exit_status": 2}, FAILED, "evaluate exited"),
        ({"state": DONE}, FAILED, "task says done but there is no eval.json"),
    ],
)
def test_without_eval_json_the_tasks_record_says(tmp_path, task, state, detail):
    status = status_of(tmp_path, task)
    assert status.state == state and detail in status.detail


def test_a_running_record_whose_process_is_gone_on_this_host_failed(tmp_path):
    gone = max(int(p) for p in os.listdir("/proc") if p.isdigit()) + 100000
    status = status_of(tmp_path, {"state": RUNNING, "host": HERE, "pid": gone})
    assert (status.state, status.detail) == (FAILED, "its process is gone (killed?)")


@pytest.mark.parametrize(
    "slurm, state, active",
    [
        (TaskState("PENDING", "Resources"), PENDING, True),
        (TaskState("RUNNING"), RUNNING, True),
        (TaskState("COMPLETING"), RUNNING, True),
        (TaskState("CANCELLED", "exit 0:15", "sacct"), CANCELLED, False),
        (TaskState("TIMEOUT"), FAILED, False),
        (TaskState("COMPLETED"), FAILED, False),  # ended, yet no eval.json
    ],
)
def test_slurms_word_decides_for_a_point_it_ran(tmp_path, slurm, state, active):
    status = status_of(tmp_path, {"state": RUNNING, "slurm_job_id": "7"}, slurm)
    assert (status.state, status.active) == (state, active)
    assert f"Slurm: {slurm.state}" in status.detail


def test_a_done_point_whose_task_slurm_still_holds_is_active(tmp_path):
    evaluation = {"best_threshold_accuracy": 0.5, "best_threshold_all_pairs": 0.6}
    (tmp_path / "eval.json").write_text(json.dumps(evaluation))
    status = status_of(tmp_path, {}, TaskState("COMPLETING"))
    assert status.state == DONE and status.active


def test_the_summary_lists_points_tallies_them_and_says_how_to_continue():
    statuses = [
        PointStatus(POINT, DONE, iteration=40, accuracy=0.5),
        PointStatus(Point(3, "3_q-10", {}, {}, {}), CANCELLED, "interrupted in train", 12),
        PointStatus(Point(4, "4", {}, {}, {}), DONE, iteration=40, accuracy=0.25),
    ]
    lines = summary_lines(statuses, Path("/s/my sweep"), every_point=True)
    assert lines[0].split() == ["2_q-3", "done", "iteration", "40/40", "accuracy", "50.00%"]
    assert lines[1].split()[:2] == ["3_q-10", "cancelled"] and "interrupted in train" in lines[1]
    assert lines[3:] == [
        "2 done, 1 cancelled (of 3)",
        "continue with: caffesiam sweep resume '/s/my sweep'",
    ]
    done_only = [statuses[0], statuses[2]]
    assert summary_lines(done_only, Path("/s")) == ["2 done (of 2)"]
    assert point_list(statuses) == "2, 3, 4"
