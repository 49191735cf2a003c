"""A training run: Caffe's output streamed through the log parser into caffe.log, metrics.csv
and loss.png. Progress reaches the caller as train.log events; nothing is printed here."""

import os
from dataclasses import dataclass
from typing import Callable, List, Optional

from caffesiam.caffe import runner
from caffesiam.caffe.proto import to_text
from caffesiam.draw.plots import plot_loss_curve
from caffesiam.errors import TrainingFailed
from caffesiam.files import write_text_atomic
from caffesiam.train.log import LogParser, Metrics, TestPoint, failure_line
from caffesiam.train.metrics_csv import metrics_csv


@dataclass
class RunResult:
    metrics: Metrics
    status: int
    interrupted: bool
    log_path: object
    csv_path: object
    plot_path: object


def caffe_env(blas_threads: Optional[int]) -> dict:
    """Caffe's environment: INFO logs on stderr (we parse them), OpenBLAS threads if chosen."""
    env = dict(os.environ, GLOG_logtostderr="1", GLOG_minloglevel="0")
    if blas_threads is not None:
        env["OPENBLAS_NUM_THREADS"] = str(blas_threads)
    return env


def write_run_solver(plan):
    plan.run_dir.mkdir(parents=True, exist_ok=True)
    plan.snapshot_prefix.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(plan.run_solver, to_text(plan.solver))


def write_outputs(plan, metrics: Metrics):
    csv_path, plot_path = plan.run_dir / "metrics.csv", plan.run_dir / "loss.png"
    write_text_atomic(csv_path, metrics_csv(metrics))
    if metrics.train or metrics.test:
        plot_loss_curve(metrics, plot_path, title=f"{plan.solver_path.name} ({plan.net_path.name})")
    return csv_path, plot_path


def run_training(plan, argv: List[str], env: dict, on_event: Callable = lambda e: None,
                 on_line: Callable[[str], None] = lambda line: None,
                 interrupts: Optional[runner.Interrupts] = None) -> RunResult:
    """Run Caffe; outputs are rewritten whenever a test phase completes and at the end."""
    parser = LogParser()
    log_path = plan.run_dir / "caffe.log"
    interrupts = interrupts or runner.Interrupts()
    with open(log_path, "w") as log:
        def handle(line: str):
            log.write(line)
            on_line(line)
            for event in parser.feed(line):
                if isinstance(event, TestPoint):
                    log.flush()
                    write_outputs(plan, parser.metrics)
                on_event(event)

        status = runner.stream(argv, handle, cwd=plan.cwd, env=env, interrupts=interrupts)
    csv_path, plot_path = write_outputs(plan, parser.metrics)
    # A second Ctrl-C kills Caffe on purpose; any other non-zero status is a failure.
    if status != 0 and interrupts.count < 2:
        with open(log_path) as f:
            reason = failure_line(f) or parser.metrics.fatal or "no error line in its log"
        raise TrainingFailed(f"caffe exited with status {status}: {reason} (full log: {log_path})",
                             exit_code=status)
    return RunResult(parser.metrics, status, interrupts.count > 0, log_path, csv_path, plot_path)
