"""A sweep's comparison: results.csv (one row per point), curves.png (every run's test loss) and
accuracy.png (held-out pair accuracy per point)."""

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path

from caffesiam.charts.sweep import plot_accuracy_bars, plot_loss_panels
from caffesiam.errors import SweepError
from caffesiam.files import check_output, staged
from caffesiam.sweep.expand import Point, describe
from caffesiam.sweep.layout import ACCURACY_PNG, CURVES_PNG, RESULTS_CSV
from caffesiam.sweep.rundirs import logged_metrics, points_of, read_state, train_dirs
from caffesiam.sweep.status import read_evaluation
from caffesiam.train.usage import read_usage

REPORT_FILES = (RESULTS_CSV, CURVES_PNG, ACCURACY_PNG)
RESULT_COLUMNS = (
    "accuracy",
    "accuracy_half_margin",
    "auc",
    "eer",
    "iterations",
    "train_seconds",
    "train_cpu_seconds",
    "iters_per_s",
)
# evaluate's names for the columns it fills; accuracy is the held-out best-threshold accuracy.
_FROM_EVAL = {
    "accuracy": "best_threshold_accuracy",
    "accuracy_half_margin": "accuracy_half_margin",
    "auc": "auc",
    "eer": "eer",
}


@dataclass
class PointResult:
    point: Point
    values: dict[str, float | None]
    test_loss: list[tuple[int, float]] = field(default_factory=list)  # (iteration, loss)

    @property
    def done(self) -> bool:
        return self.values["accuracy"] is not None


def collect(sweep_dir: Path) -> list[PointResult]:
    """Each point's evaluation, training time and test-loss curve, from its run directory."""
    return [_collect(p, Path(sweep_dir) / p.name) for p in points_of(sweep_dir)]


def _collect(point: Point, where: Path) -> PointResult:
    evaluation = read_evaluation(where) or {}
    values = {column: evaluation.get(key) for column, key in _FROM_EVAL.items()}
    usages, curve = [], {}
    for run in train_dirs(where):  # attempts in order; a resumed one continues the curve
        usages.append(read_usage(run, SweepError))
        metrics = logged_metrics(run)
        if metrics:
            curve.update(
                {t.iteration: t.outputs["loss"] for t in metrics.test if "loss" in t.outputs}
            )
    values.update(training_totals(usages))
    return PointResult(point, values, sorted(curve.items()))


def training_totals(usages: list[dict]) -> dict:
    """iterations, train_seconds, train_cpu_seconds and iters_per_s of a point's training
    attempts (train's usage.json files). The CPU time is Caffe's own, on the host or in the
    container; a point with an attempt that has none (a container killed before its report, or a
    run directory from before containers reported it, whose timed process was the docker client)
    has no CPU time."""
    wall = sum(u.get("wall_seconds", 0) for u in usages)
    iterations = sum(
        max(u.get("last_iteration", 0) - u.get("start_iteration", 0), 0) for u in usages
    )
    cpu = (
        None
        if any(u.get("process") == "docker" or u.get("cpu_seconds", 0) is None for u in usages)
        else sum(u.get("cpu_seconds", 0) for u in usages)
    )
    return {
        "iterations": int(iterations) or None,
        "train_seconds": round(wall, 1) if wall else None,
        "train_cpu_seconds": round(cpu, 1) if cpu else None,
        "iters_per_s": round(iterations / wall, 2) if wall else None,
    }


def results_csv(results: list[PointResult], keys: list[str]) -> str:
    """One row per point: its overrides, then the result columns (blank where it has none)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["index", "point", *keys, *RESULT_COLUMNS])
    for r in results:
        overrides = [_cell(r.point.settings.get(k)) for k in keys]
        writer.writerow(
            [r.point.index, r.point.name, *overrides, *(_cell(r.values[c]) for c in RESULT_COLUMNS)]
        )
    return out.getvalue()


def _cell(value):
    if value is None:
        return ""
    if isinstance(value, list):
        return " ".join(map(str, value))
    return value


def label(point: Point, leave_out=()) -> str:
    """What tells this point apart from the others."""
    shown = {k: v for k, v in point.varying.items() if k not in leave_out}
    return describe(shown) or point.name


def curve_panels(
    results: list[PointResult],
) -> dict[str, list[tuple[str, list[tuple[int, float]]]]]:
    """{panel title: [(line label, test-loss curve)]}: one panel per loss when losses differ
    (their values are on different scales), each line labelled by what else differs."""
    by_loss = "loss" in (results[0].point.varying if results else {})
    panels: dict[str, list] = {}
    for r in results:
        title = f"{r.point.settings.get('loss', '')} loss" if by_loss else "test loss"
        panels.setdefault(title, []).append((label(r.point, ("loss",)), r.test_loss))
    return dict(sorted(panels.items()))


def accuracy_bars(results: list[PointResult]) -> list[tuple[str, float]]:
    """(label, held-out accuracy in %) of every finished point, lowest first."""
    done = sorted((r for r in results if r.done), key=lambda r: r.values["accuracy"])
    return [(f"{r.point.index}: {label(r.point)}", 100 * r.values["accuracy"]) for r in done]


def write_report(sweep_dir: Path, out_dir: Path) -> list[Path]:
    """results.csv, curves.png and accuracy.png in `out_dir`, published together: when one cannot
    be made, an earlier report stays as it was."""
    paths = [check_output(out_dir / name, SweepError, parents=True) for name in REPORT_FILES]
    state = read_state(sweep_dir)
    results = collect(sweep_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    done = sum(r.done for r in results)
    title = f"sweep {state['name']}: {done} of {len(results)} points evaluated"
    with staged() as stage:
        stage(paths[0]).write_text(results_csv(results, state["keys"]))
        plot_loss_panels(curve_panels(results), stage(paths[1]), title)
        plot_accuracy_bars(accuracy_bars(results), stage(paths[2]), title)
    return paths
