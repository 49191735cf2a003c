"""Where each point of a sweep stands: its files first (eval.json means done), then Slurm's
view of its task (squeue, sacct), then what the task itself recorded (task.json).

The states, of a point and of the task record (task.json) alike, are stated here once.
"""

import os
import shlex
import socket
from dataclasses import dataclass
from pathlib import Path

from caffesiam.errors import SweepError
from caffesiam.evaluate.report import EVALUATION
from caffesiam.schema import Field, Schema, integer, number, read_json_file, text
from caffesiam.sweep import engines
from caffesiam.sweep.expand import Point
from caffesiam.sweep.layout import EVAL_JSON, TASK_JSON
from caffesiam.sweep.rundirs import PID, logged_metrics, points_of, read_state, train_dirs

DONE = "done"
PENDING = "pending"
RUNNING = "running"
FAILED = "failed"
CANCELLED = "cancelled"
NOT_STARTED = "not started"
INTERRUPTED = "interrupted"  # a task's record only: Ctrl-C stopped it (the point is cancelled)
ACTIVE = (PENDING, RUNNING)
RESUMABLE = (FAILED, CANCELLED, NOT_STARTED)  # what `sweep resume` runs again

_JOB_ID = text(null=True)
TASK_SCHEMA = Schema(  # task.json, as sweep.task writes it
    "sweep task record",
    (
        Field("state", text(RUNNING, DONE, FAILED, INTERRUPTED)),
        Field("host", text(), required=False),
        Field("pid", PID, required=False),
        Field("started", number(), required=False),
        Field("ended", number(), required=False),
        Field("slurm_job_id", _JOB_ID, required=False),
        Field("slurm_array_job_id", _JOB_ID, required=False),
        Field("step", text(), required=False),
        Field("exit_status", integer(), required=False),
    ),
    SweepError,
)


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
    tasks = {p.index: read_task(sweep_dir / p.name) for p in points}
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


def read_task(point_dir: Path) -> dict:
    """The point's task.json, or {} before its task started."""
    return read_json_file(Path(point_dir) / TASK_JSON, TASK_SCHEMA, optional=True) or {}


def read_evaluation(point_dir: Path) -> dict | None:
    """The point's eval.json (evaluate --json's report), or None before it was evaluated."""
    return read_json_file(Path(point_dir) / EVAL_JSON, EVALUATION, SweepError, optional=True)


def point_status(
    point: Point, where: Path, task: dict, slurm: engines.TaskState | None
) -> PointStatus:
    iteration = _iteration(where)
    queued = slurm is not None and slurm.state in engines.ACTIVE
    result = read_evaluation(where)
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
    if state == RUNNING:
        if (
            not task.get("slurm_job_id")
            and not _running_here(task)
            and task.get("host") == socket.gethostname()
        ):
            return FAILED, "its process is gone (killed?)"
        return RUNNING, ""
    if state == INTERRUPTED:
        return CANCELLED, f"interrupted in {task.get('step')}"
    if state == FAILED:
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
    logged = (logged_metrics(run) for run in train_dirs(where))
    return max((metrics.iteration for metrics in logged if metrics), default=0)


def counts(statuses: list[PointStatus]) -> dict[str, int]:
    """{state: how many points are in it}, in the order the states first appear."""
    found: dict[str, int] = {}
    for s in statuses:
        found[s.state] = found.get(s.state, 0) + 1
    return found


def point_list(statuses: list[PointStatus]) -> str:
    """The points' indices, as messages list them: "0, 3, 4"."""
    return ", ".join(str(s.point.index) for s in statuses)


def resume_command(sweep_dir: Path) -> str:
    return f"caffesiam sweep resume {shlex.quote(str(sweep_dir))}"


def summary_lines(statuses: list[PointStatus], sweep_dir: Path, every_point=False) -> list[str]:
    """What `sweep status` shows: a line per point (with `every_point`), the tally, and how to
    continue when some point needs running again."""
    lines = []
    if every_point:
        width = max(len(s.point.name) for s in statuses)
        for s in statuses:
            progress = f"iteration {s.iteration}/{s.point.max_iter}"
            result = f"accuracy {s.accuracy:.2%}" if s.accuracy is not None else s.detail
            lines.append(f"{s.point.name:<{width}}  {s.state:<11}  {progress:<22}  {result}")
    tally = ", ".join(f"{n} {state}" for state, n in counts(statuses).items())
    lines.append(f"{tally} (of {len(statuses)})")
    if any(s.state in RESUMABLE for s in statuses):
        lines.append(f"continue with: {resume_command(sweep_dir)}")
    return lines
