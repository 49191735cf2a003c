"""A training run: Caffe's output streamed through the log parser into caffe.log, metrics.csv
and loss.png. Progress reaches the caller as train.log events; nothing is printed here."""

import json
import math
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from caffesiam.caffe import runner
from caffesiam.caffe.glog import glog_env
from caffesiam.caffe.proto import to_text
from caffesiam.charts.loss import plot_loss_curve
from caffesiam.errors import TrainingDiverged, TrainingFailed
from caffesiam.files import staged, write_text_atomic
from caffesiam.train.blas_threads import thread_env, threads_for_run, write_choice
from caffesiam.train.log import (
    LogParser,
    Metrics,
    TestPoint,
    TrainPoint,
    failure_line,
    snapshot_iteration,
)
from caffesiam.train.metrics_csv import metrics_csv
from caffesiam.train.plan import TrainPlan
from caffesiam.train.rundir import BLAS_THREADS_JSON, CAFFE_LOG, LOSS_PNG, METRICS_CSV, USAGE_JSON
from caffesiam.train.usage import usage_record

PLOT_EVERY_S = 30.0  # while Caffe runs, loss.png is redrawn at most this often


@dataclass
class RunResult:
    metrics: Metrics
    status: int
    interrupted: bool
    log_path: Path
    csv_path: Path
    plot_path: Path
    usage: runner.Finished


def caffe_env(threads: int | None) -> dict:
    """Caffe's environment: INFO logs on stderr (we parse them), its threads if chosen."""
    env = dict(os.environ, **glog_env(full_log=True))
    if threads is not None:
        env.update(thread_env(threads))
    return env


def write_run_solver(plan: TrainPlan):
    plan.run_dir.mkdir(parents=True, exist_ok=True)
    plan.snapshot_prefix.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(plan.run_solver, to_text(plan.solver))


@dataclass
class RunSetup:
    """How Caffe is started: its argv (as the launch runs it), its environment, and the CPU
    threads chosen (None for a GPU run) with the reason."""

    argv: list[str]
    env: dict
    threads: int | None
    why: str


def prepare_run(plan: TrainPlan, launch, blas_threads: str) -> RunSetup:
    """Write the run's solver, choose its CPU threads (--blas-threads `blas_threads`, recorded in
    blas_threads.json) and build the `caffe train` argv that `launch` (train.launch) runs."""
    write_run_solver(plan)
    threads, why, timings = threads_for_run(plan, blas_threads, launch)
    write_choice(plan.run_dir / BLAS_THREADS_JSON, threads, why, timings)
    env = caffe_env(threads)
    train = runner.caffe_train_argv(
        launch.caffe, plan.run_solver, plan.gpu, plan.weights, plan.resume
    )
    return RunSetup(launch.wrap(plan, train, env), env, threads, why)


class RunOutputs:
    """metrics.csv after every test phase; loss.png at the first, then at most every `plot_every`
    seconds while Caffe runs, and at the end with usage.json: a render (a second or so) stays off
    the log path. What is written at one time is published together (files.staged)."""

    def __init__(self, plan: TrainPlan, plot_every: float = PLOT_EVERY_S, clock=time.monotonic):
        self.csv_path, self.plot_path = plan.run_dir / METRICS_CSV, plan.run_dir / LOSS_PNG
        self.usage_path = plan.run_dir / USAGE_JSON
        self.title = f"{plan.solver_path.name} ({plan.net_path.name})"
        self.plot_every, self.clock = plot_every, clock
        self.plotted_at: float | None = None
        self.plot_due = False

    def test_phase(self, metrics: Metrics):
        self.plot_due = True
        self._write(metrics, table=True, plot=self._plot_now())

    def plot_if_due(self, metrics: Metrics):
        if self._plot_now():
            self._write(metrics, table=False, plot=True)

    def finish(self, metrics: Metrics, usage: dict | None = None):
        """The last metrics.csv and loss.png, and usage.json when given."""
        self._write(metrics, table=True, plot=True, usage=usage)

    def _plot_now(self) -> bool:
        return self.plot_due and (
            self.plotted_at is None or self.clock() - self.plotted_at >= self.plot_every
        )

    def _write(self, metrics: Metrics, table: bool, plot: bool, usage: dict | None = None):
        with staged() as stage:
            if table:
                stage(self.csv_path).write_text(metrics_csv(metrics))
            if plot and (metrics.train or metrics.test):
                plot_loss_curve(metrics, stage(self.plot_path), title=self.title)
            if usage is not None:
                stage(self.usage_path).write_text(json.dumps(usage, indent=1) + "\n")
        if plot:
            self.plotted_at, self.plot_due = self.clock(), False


def run_training(
    plan: TrainPlan,
    argv: list[str],
    env: dict,
    on_event: Callable = lambda e: None,
    on_line: Callable[[str], None] = lambda line: None,
    interrupts: runner.Interrupts | None = None,
    outputs: RunOutputs | None = None,
    launch_failure: Callable[[int, list[str]], str | None] = lambda status, lines: None,
    in_container: bool = False,
) -> RunResult:
    """Run Caffe; its log goes to caffe.log, metrics to `outputs` (RunOutputs(plan) by default).

    A loss that stops being finite stops Caffe as a first Ctrl-C does (it snapshots and exits),
    and is TrainingDiverged; Caffe dying otherwise is TrainingFailed (exit 1, its status named).
    `launch_failure(status, log lines)` names a failure of what started Caffe (docker run), if any.
    `in_container`: argv runs Caffe in a container, whose entry reports Caffe's CPU time.
    """
    parser = LogParser()
    log_path = plan.run_dir / CAFFE_LOG
    interrupts = interrupts or runner.Interrupts()
    outputs = outputs or RunOutputs(plan)
    with open(log_path, "w") as log:

        def handle(line: str):
            log.write(line)
            on_line(line)
            for event in parser.feed(line):
                if isinstance(event, TestPoint):
                    log.flush()
                    outputs.test_phase(parser.metrics)
                if isinstance(event, TrainPoint) and not math.isfinite(event.loss):
                    interrupts.stop()
                on_event(event)
            outputs.plot_if_due(parser.metrics)

        finished = runner.stream(
            argv, handle, cwd=plan.cwd, env=env, interrupts=interrupts, in_container=in_container
        )
    status = finished.status
    process = "caffe in the container" if in_container else Path(argv[0]).name
    usage = usage_record(process, finished, plan.start_iter, parser.metrics.iteration)
    outputs.finish(parser.metrics, usage)
    # A second Ctrl-C kills Caffe on purpose; any other non-zero status is a failure.
    if status != 0 and interrupts.count < 2:
        with open(log_path, errors="replace") as f:
            lines = f.readlines()
        why = failure_line(lines) or parser.metrics.fatal or "no error line in its log"
        reason = launch_failure(status, lines) or f"{describe_status(status)}: {why}"
        raise TrainingFailed(f"{reason} (full log: {log_path})", status)
    if parser.metrics.diverged and interrupts.count == 0:
        raise TrainingDiverged(diverged_message(plan, parser.metrics, log_path))
    return RunResult(
        parser.metrics,
        status,
        interrupts.count > 0,
        log_path,
        outputs.csv_path,
        outputs.plot_path,
        finished,
    )


def describe_status(status: int) -> str:
    """How Caffe ended, in words: 'caffe exited with status 1', or the signal that killed it."""
    try:
        killer = signal.Signals(status - 128).name if status > 128 else None
    except ValueError:
        killer = None
    return (
        f"caffe was killed by {killer} (status {status})"
        if killer
        else f"caffe exited with status {status}"
    )


def diverged_message(plan: TrainPlan, metrics: Metrics, log_path: Path) -> str:
    """The diverging run in one line: where, the last finite loss, the snapshots, what to change."""
    bad, last = metrics.diverged, metrics.last_finite
    text = f"training diverged at iteration {bad.iteration}: loss = {bad.loss}"
    if last:
        text += f" (last finite loss {last.loss:.4g} at iteration {last.iteration})"
    models = [s for s in metrics.snapshots if s.endswith(".caffemodel")]
    before = [s for s in models if (snapshot_iteration(s) or 0) < bad.iteration]
    if models and models[-1] not in before:
        text += (
            f"; Caffe was stopped at iteration {snapshot_iteration(models[-1])} with a snapshot, "
            f"{models[-1]}, whose weights are not finite"
        )
    if before:
        text += f"; the last snapshot before it is {before[-1]}"
    return (
        text + f"; lower base_lr (now {plan.solver.base_lr:g}) and train again "
        f"(full log: {log_path})"
    )
