"""What `train` tells the user, as text (pure): the progress bar's steps and status, the closing
summary of a run, and the command that resumes an interrupted one."""

import shlex

from caffesiam.train.log import TestPoint, TrainPoint


class TrainProgress:
    """Follows a run's log events: the iterations each one advances and the latest losses."""

    def __init__(self, start_iter: int):
        self.done = start_iter
        self.loss: float | None = None
        self.test_loss: float | None = None

    def advance(self, event) -> int:
        """How many iterations `event` completes (0 for all but a later train point)."""
        if isinstance(event, TestPoint) and "loss" in event.outputs:
            self.test_loss = event.outputs["loss"]
        if not isinstance(event, TrainPoint):
            return 0
        steps = max(event.iteration - self.done, 0)
        self.done = max(self.done, event.iteration)
        self.loss = event.loss
        return steps

    def status(self) -> str:
        """'loss 0.1234 test 0.2345', each part once it is known."""
        parts = []
        if self.loss is not None:
            parts.append(f"loss {self.loss:.4f}")
        if self.test_loss is not None:
            parts.append(f"test {self.test_loss:.4f}")
        return " ".join(parts)


def run_summary(result, timed_process: str) -> str:
    """Where a finished run's files are, the time it took and its last snapshot."""
    cpu = result.usage.cpu_seconds
    lines = [
        f"log: {result.log_path}",
        f"metrics: {result.csv_path}",
        f"curve: {result.plot_path}",
        f"time: {result.usage.wall_seconds:.1f} s wall, "
        + (f"{cpu:.1f} s CPU" if cpu is not None else "CPU time not reported")
        + f" (user+sys of {timed_process})",
    ]
    if result.metrics.snapshots:
        lines.append(f"last snapshot: {result.metrics.snapshots[-1]}")
    return "\n".join(lines)


def resume_hint(plan, solverstate: str) -> str:
    """The message for a run stopped with a snapshot at `solverstate`: how to continue it."""
    return (
        f"stopped with a snapshot at {solverstate}; continue with:\n  caffesiam train "
        f"{shlex.quote(str(plan.run_solver))} --resume {shlex.quote(str(plan.cwd / solverstate))}"
    )
