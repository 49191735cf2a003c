"""What each engine runs for one point (`caffesiam sweep run-point DIR i`): train, continuing
from its last snapshot when an earlier attempt stopped, then evaluate. task.json says where it
is; task.log has the output."""

import json
import os
import shlex
import socket
import time
from pathlib import Path

from caffesiam.caffe import runner
from caffesiam.caffe.weights import read_solverstate
from caffesiam.errors import SweepError
from caffesiam.files import write_text_atomic
from caffesiam.sweep.expand import Point
from caffesiam.sweep.layout import (
    EVAL_JSON,
    SNAPSHOT_PREFIX,
    STALE_SNAPSHOTS,
    TASK_JSON,
    TASK_LOG,
    TRAIN_DIR,
)
from caffesiam.sweep.rundirs import latest_solverstate, listed_point, next_train_dir, read_state
from caffesiam.sweep.scripts import caffesiam_argv
from caffesiam.sweep.status import DONE, FAILED, INTERRUPTED, RUNNING
from caffesiam.train.gather import existing_snapshots


def run_point(sweep_dir: Path, index: int) -> int:
    """Run point `index` of `sweep_dir` to the end; returns the exit status of the step that
    failed, or 0."""
    sweep_dir = Path(sweep_dir).resolve()
    names = read_state(sweep_dir)["points"]
    if not 0 <= index < len(names):
        raise SweepError(f"{sweep_dir} has points 0 to {len(names) - 1}, not {index}")
    where = sweep_dir / names[index]
    point = listed_point(sweep_dir, index, names[index])
    task = {
        "state": RUNNING,
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "started": time.time(),
        "slurm_job_id": os.environ.get("SLURM_JOB_ID"),
        "slurm_array_job_id": os.environ.get("SLURM_ARRAY_JOB_ID"),
    }
    if (where / EVAL_JSON).exists():
        return 0
    _write_task(where, task)
    with open(where / TASK_LOG, "a") as log:
        steps = [("evaluate", point.commands["evaluate"])]
        if not (where / point.final_weights).exists():
            steps.insert(0, ("train", train_argv(point, where, log.write)))
        for step, argv in steps:
            argv = [*caffesiam_argv(), *argv]
            log.write(f"$ {shlex.join(argv)}\n")
            log.flush()
            status = runner.stream(argv, log.write, cwd=where).status
            if status != 0:
                state = INTERRUPTED if status == 130 else FAILED
                _write_task(where, {**task, "state": state, "step": step, "exit_status": status})
                return status
    _write_task(where, {**task, "state": DONE})
    return 0


def train_argv(point: Point, where: Path, note=lambda text: None) -> list[str]:
    """The point's train command; after an earlier attempt stopped, the next free train_N run
    directory, continuing from the last snapshot when there is one. Snapshot files past that one
    (a kill while Caffe wrote a snapshot leaves a .caffemodel alone) move to snap/stale/, each
    move told to `note`."""
    argv = list(point.commands["train"])
    if not (where / TRAIN_DIR).exists():
        return argv
    argv[argv.index("--out") + 1] = next_train_dir(where)
    state = latest_solverstate(where)
    stale = existing_snapshots(
        where / SNAPSHOT_PREFIX, read_solverstate(state).iter if state else 0
    )
    for path in stale:
        (where / STALE_SNAPSHOTS).mkdir(exist_ok=True)
        path.rename(where / STALE_SNAPSHOTS / path.name)
        note(
            f"moved {path.relative_to(where)} to {STALE_SNAPSHOTS}/: "
            f"an unfinished snapshot past the one this run continues from\n"
        )
    if state is not None:
        argv += ["--resume", str(state.relative_to(where))]
    return argv


def _write_task(where: Path, task: dict):
    if task["state"] != RUNNING:
        task = {**task, "ended": time.time()}
    write_text_atomic(where / TASK_JSON, json.dumps(task, indent=1) + "\n")
