"""Where each point of a sweep stands: its files first (eval.json means done), then Slurm's
view of its task (squeue, sacct), then what the task itself recorded (task.json)."""

import os
import socket
from dataclasses import dataclass
from pathlib import Path

from caffesiam.sweep import engines
from caffesiam.sweep.expand import EVAL_JSON, Point
from caffesiam.sweep.rundirs import TASK_JSON, points_of, read_json, read_state, train_dirs
from caffesiam.train.log import parse_lines
from caffesiam.train.rundir import CAFFE_LOG

DONE, PENDING, RUNNING, FAILED, CANCELLED, NOT_STARTED = (
    "done",
    "pending",
    "running",
    "failed",
    "cancelled",
    "not started",
)
ACTIVE = (PENDING, RUNNING)


@dataclass
class PointStatus:
    point: Point
    state: str
    detail: str = ""
    iteration: int = 0
    accuracy: float | None = None
    queued: bool = False  # Slurm still holds its task (a done point's task may still be ending)

    @property
    def active(self) -> bool:
        return self.state in ACTIVE or self.queued


def sweep_status(sweep_dir: Path) -> list[PointStatus]:
    sweep_dir = Path(sweep_dir)
    state = read_state(sweep_dir)
    jobs = state.get("slurm_jobs", [])
    points = points_of(sweep_dir)
    tasks = {p.index: read_json(sweep_dir / p.name / TASK_JSON) or {} for p in points}
    slurm = engines.slurm_states(jobs, tasks) if jobs else {}
    pool = state.get("local_pool") or {}
    pooled = set(pool.get("indices", [])) if _running_here(pool) else set()
    statuses = [
        point_status(p, sweep_dir / p.name, tasks[p.index], slurm.get(p.index)) for p in points
    ]
    for s in statuses:
        if s.state == NOT_STARTED and s.point.index in pooled:
            s.state, s.detail = PENDING, f"waiting in the local pool (pid {pool['pid']})"
    return statuses


def point_status(
    point: Point, where: Path, task: dict, slurm: engines.TaskState | None
) -> PointStatus:
    iteration = _iteration(where)
    queued = slurm is not None and slurm.state in engines.ACTIVE
    result = read_json(where / EVAL_JSON)
    if result is not None:
        return PointStatus(
            point,
            DONE,
            iteration=iteration,
            accuracy=result.get("best_threshold_accuracy"),
            queued=queued,
        )
    state, detail = _task_state(task)
    if slurm is not None:
        said = (
            f"Slurm: {slurm.state}"
            + (f" ({slurm.reason})" if slurm.reason else "")
            + f" [{slurm.source}]"
        )
        if queued:
            state, detail = (PENDING if slurm.state == "PENDING" else RUNNING), said
        else:  # the task ended without an eval.json
            state = CANCELLED if slurm.state == "CANCELLED" else FAILED
            detail = said + (f"; {detail}" if detail else "")
    return PointStatus(point, state, detail, iteration, queued=queued)


def _task_state(task: dict):
    """(state, detail) from task.json alone."""
    state = task.get("state")
    if not state:
        return NOT_STARTED, ""
    if state == "running":
        if (
            not task.get("slurm_job_id")
            and not _running_here(task)
            and task.get("host") == socket.gethostname()
        ):
            return FAILED, "its process is gone (killed?)"
        return RUNNING, ""
    if state == "interrupted":
        return CANCELLED, f"interrupted in {task.get('step')}"
    if state == "failed":
        return FAILED, f"{task.get('step')} exited with status {task.get('exit_status')}"
    return FAILED, f"task says {state} but there is no {EVAL_JSON}"


def _running_here(record: dict) -> bool:
    """Whether the process a record names ({"host", "pid"}) is alive on this machine."""
    if record.get("host") != socket.gethostname():
        return False
    try:
        os.kill(int(record.get("pid")), 0)
    except (TypeError, ValueError, ProcessLookupError):
        return False
    except PermissionError:
        return True
    return True


def _iteration(where: Path) -> int:
    """The last iteration any of the point's trainings logged."""
    last = 0
    for run in train_dirs(where):
        try:
            with open(run / CAFFE_LOG, errors="replace") as log:
                last = max(last, parse_lines(log).iteration)
        except OSError:
            continue
    return last


def counts(statuses: list[PointStatus]) -> dict[str, int]:
    found: dict[str, int] = {}
    for s in statuses:
        found[s.state] = found.get(s.state, 0) + 1
    return found
