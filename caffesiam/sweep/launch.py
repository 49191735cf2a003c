"""A sweep's life from the command line's point of view: load and check it, make its directory,
run its points on the local pool or submit them to Slurm, wait for them, and resume the ones
that did not finish. Nothing here prints or exits: progress goes to callbacks, results are
returned, and bad input is a SweepError."""

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from caffesiam.errors import SweepError
from caffesiam.files import read_file, staged, write_text_atomic
from caffesiam.spec.yamlload import load_yaml
from caffesiam.sweep import engines
from caffesiam.sweep.create import PointFiles, check_out_dir, create, point_files
from caffesiam.sweep.expand import Point, Sweep, databases_read, expand, train_command
from caffesiam.sweep.layout import LOGS, SBATCH_SCRIPT, TASK_LOG
from caffesiam.sweep.rundirs import points_of, read_state, write_point, write_state
from caffesiam.sweep.scripts import batch_script
from caffesiam.sweep.settings import (
    EngineSettings,
    Machine,
    blas_threads,
    check_engine,
    check_shared_databases,
    merge_settings,
    train_options,
)
from caffesiam.sweep.status import RESUMABLE, PointStatus, sweep_status


def load_sweep(sweep_file: Path, settings: EngineSettings, machine: Machine) -> Sweep:
    """The sweep file's points, each train command with the engine's options."""
    doc = load_yaml(read_file(sweep_file, SweepError, "sweep file"), str(sweep_file))
    base_dir = str(sweep_file.resolve().parent)
    return expand(doc, str(sweep_file), base_dir, train_options(settings, machine.cores))


def check_sweep(
    sweep: Sweep,
    out: Path,
    settings: EngineSettings,
    machine: Machine,
    on_progress: Callable[[int], None] | None = None,
) -> list[PointFiles]:
    """Everything `sweep run` checks before it makes anything: `out` holds no run directory of
    the sweep, the engine can run its points (check_launch), and every point's files are made
    (in memory, calling `on_progress(1)` as each is) and fit their databases. Returns the
    files; the first problem is a SweepError."""
    check_out_dir(out, sweep)
    check_launch(out, sweep.name, settings, machine, sweep.points)
    return point_files(sweep, out, lambda point: on_progress and on_progress(1))


def check_launch(
    sweep_dir: Path, name: str, settings: EngineSettings, machine: Machine, points: list[Point]
):
    """What `sweep run` and `sweep resume` both check before they start `points`: an engine
    this machine can drive with settings a point would not fail on, databases the points that
    run at once can share, and a job array Slurm would take."""
    check_engine(settings, machine)
    check_shared_databases(databases_read(points), settings)
    if settings.engine == "slurm" and points:
        engines.check_submission(
            _sbatch_argv(sweep_dir, name, settings, machine, [p.index for p in points])
        )


def create_sweep(
    sweep: Sweep,
    out: Path,
    sweep_file: Path,
    settings: EngineSettings,
    files: list[PointFiles],
):
    """Make the sweep directory `out` with each point's `files` (check_sweep's; see
    sweep.create)."""
    create(sweep, out, sweep_file, settings.record(), files)


@dataclass
class Resume:
    settings: EngineSettings
    busy: list[PointStatus]  # still queued or running: left alone
    todo: list[PointStatus]  # failed, cancelled or never started: run again


def plan_resume(sweep_dir: Path, machine: Machine, **given) -> Resume:
    """What `resume` would do: the engine options given over the ones the sweep was started
    with, checked as `sweep run` checks them (check_launch)."""
    state = read_state(sweep_dir)
    settings = merge_settings(state["engine"], **given)
    statuses = sweep_status(sweep_dir)
    busy = [s for s in statuses if s.active]
    todo = [s for s in statuses if s.state in RESUMABLE and not s.active]
    check_launch(sweep_dir, state["name"], settings, machine, [s.point for s in todo])
    return Resume(settings, busy, todo)


def prepare_resume(sweep_dir: Path, resume: Resume, machine: Machine):
    """Rewrite the train command of each point to run again (the engine may differ from last
    time: command.sh says what will run) and record the engine's settings: all published
    together, or none."""
    state = read_state(sweep_dir)
    command = train_command(train_options(resume.settings, machine.cores))
    with staged() as stage:
        for s in resume.todo:
            point = replace(s.point, commands={**s.point.commands, "train": command})
            where = sweep_dir / point.name
            write_point(point, where, where, state["name"], stage)
        write_state(sweep_dir, {**state, "engine": resume.settings.record()}, stage)


@dataclass(frozen=True)
class PointDone:
    """A point the local pool has run: its exit status and where its output went."""

    index: int
    name: str
    status: int
    log: Path

    def failure(self) -> str:
        return f"point {self.index} ({self.name}) failed with status {self.status}; see {self.log}"


def run_local(
    sweep_dir: Path,
    settings: EngineSettings,
    machine: Machine,
    indices: Sequence[int],
    on_progress: Callable[[int], None] | None = None,
    on_failure: Callable[[PointDone], None] | None = None,
) -> list[PointDone]:
    """Run the points on this machine, `settings.jobs` at a time; `on_progress(1)` as each
    ends, and `on_failure` for each that failed. KeyboardInterrupt once every running point has
    stopped (with a snapshot)."""
    names = {p.index: p.name for p in points_of(sweep_dir)}
    ended = []

    def done(index: int, status: int):
        ended.append(PointDone(index, names[index], status, sweep_dir / names[index] / TASK_LOG))
        if on_progress:
            on_progress(1)
        if status != 0 and on_failure:
            on_failure(ended[-1])

    threads = blas_threads(settings, machine.cores)
    engines.run_local(sweep_dir, list(indices), settings.jobs, threads, done)
    return ended


def submit(
    sweep_dir: Path, settings: EngineSettings, machine: Machine, indices: Sequence[int]
) -> str:
    """Submit the points as one Slurm array job (recorded in sweep.json); returns its id."""
    state = read_state(sweep_dir)
    write_text_atomic(sweep_dir / SBATCH_SCRIPT, batch_script(sweep_dir))
    argv = _sbatch_argv(sweep_dir, state["name"], settings, machine, indices)
    job_id = engines.submit(argv)
    state["slurm_jobs"].append(
        {"id": job_id, "indices": list(indices), "sbatch": argv, "submitted": time.time()}
    )
    write_state(sweep_dir, state)
    return job_id


def _sbatch_argv(
    sweep_dir: Path, name: str, settings: EngineSettings, machine: Machine, indices: Sequence[int]
) -> list[str]:
    options = engines.SlurmOptions(
        settings.partition, settings.time, settings.cpus_per_task, settings.gpus, settings.jobs
    )
    return engines.sbatch_argv(
        machine.sbatch,
        sweep_dir / SBATCH_SCRIPT,
        indices,
        f"caffesiam-{name}",
        sweep_dir / LOGS,
        options,
    )


def wait(
    sweep_dir: Path,
    submitted: int,
    on_progress: Callable[[int], None] | None = None,
    poll_seconds: float = 5.0,
) -> list[PointStatus]:
    """Poll until no point is queued or running; `on_progress(n)` each time n more of the
    `submitted` points have ended. Returns the final statuses."""
    told = 0
    while True:
        statuses = sweep_status(sweep_dir)
        finished = submitted - sum(s.active for s in statuses)
        if finished > told and on_progress:
            on_progress(finished - told)
            told = finished
        if not any(s.active for s in statuses):
            return statuses
        time.sleep(poll_seconds)
