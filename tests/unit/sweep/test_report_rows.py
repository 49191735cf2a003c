"""sweep.report's pure parts: the rows of results.csv, the training totals, the curves' panels
and the accuracy bars; and the three files written together."""

import csv
import io

import pytest

from caffesiam.errors import SweepError
from caffesiam.sweep import report
from caffesiam.sweep.expand import Point
from caffesiam.sweep.report import (
    REPORT_FILES,
    RESULT_COLUMNS,
    PointResult,
    accuracy_bars,
    curve_panels,
    label,
    results_csv,
    training_totals,
)


def point(index, **settings) -> Point:
    return Point(index, f"{index}_p", settings, settings, settings)


def result(p: Point, accuracy=None, curve=()) -> PointResult:
    values = dict.fromkeys(RESULT_COLUMNS)
    values["accuracy"] = accuracy
    return PointResult(p, values, list(curve))


def test_results_csv_has_a_row_per_point_with_its_overrides_then_its_results():
    done = result(point(0, loss="triplet", stepvalue=[10, 20]), accuracy=0.75)
    done.values.update(auc=0.8, iterations=300)
    rows = list(
        csv.reader(io.StringIO(results_csv([done, result(point(1))], ["loss", "stepvalue"])))
    )
    assert rows[0] == ["index", "point", "loss", "stepvalue", *RESULT_COLUMNS]
    assert rows[1][:6] == ["0", "0_p", "triplet", "10 20", "0.75", ""]
    assert rows[1][2 + 2 + RESULT_COLUMNS.index("auc")] == "0.8"
    assert rows[1][2 + 2 + RESULT_COLUMNS.index("iterations")] == "300"
    assert rows[2] == ["1", "1_p", "", "", *[""] * len(RESULT_COLUMNS)]


def test_training_totals_add_up_resumed_attempts():
    totals = training_totals(
        [
            {"wall_seconds": 4, "cpu_seconds": 6, "start_iteration": 0, "last_iteration": 100},
            {"wall_seconds": 6, "cpu_seconds": 9, "start_iteration": 80, "last_iteration": 200},
        ]
    )
    assert totals == {
        "iterations": 220,
        "train_seconds": 10.0,
        "train_cpu_seconds": 15.0,
        "iters_per_s": 22.0,
    }


def test_curves_get_a_panel_per_loss_when_the_losses_differ():
    a = result(point(0, loss="contrastive", margin=1), curve=[(0, 1.0)])
    b = result(point(1, loss="triplet", margin=1), curve=[(0, 2.0)])
    panels = curve_panels([a, b])
    assert list(panels) == ["contrastive loss", "triplet loss"]
    assert panels["triplet loss"] == [("margin=1", [(0, 2.0)])]
    same = curve_panels([result(Point(0, "0", {}, {}, {"q": 2}), curve=[(5, 0.5)])])
    assert same == {"test loss": [("q=2", [(5, 0.5)])]}


def test_accuracy_bars_show_finished_points_lowest_first_in_percent():
    bars = accuracy_bars(
        [
            result(point(0, q=1), accuracy=0.9),
            result(point(1, q=2)),
            result(point(2, q=3), accuracy=0.6),
        ]
    )
    assert bars == [("2: q=3", 60.0), ("0: q=1", 90.0)]
    assert label(Point(5, "5_name", {}, {}, {})) == "5_name"  # nothing tells it apart


@pytest.fixture
def earlier_report(tmp_path, monkeypatch):
    """A sweep directory with an earlier report; the sweep's state and results are stand-ins."""
    monkeypatch.setattr(report, "read_state", lambda d: {"name": "s", "keys": []})
    monkeypatch.setattr(report, "collect", lambda d: [result(point(0), accuracy=0.5)])
    for name in REPORT_FILES:
        (tmp_path / name).write_text(f"earlier {name}")
    return tmp_path


def test_the_report_is_published_whole_or_the_earlier_one_stays(earlier_report, monkeypatch):
    def fails(bars, path, title):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(report, "plot_accuracy_bars", fails)
    with pytest.raises(Exception, match="accuracy.png: No space left on device"):
        report.write_report(earlier_report, earlier_report)
    assert sorted(p.name for p in earlier_report.iterdir()) == sorted(REPORT_FILES)
    assert all(p.read_text() == f"earlier {p.name}" for p in earlier_report.iterdir())


def test_an_output_that_is_a_directory_is_refused_before_any_work(earlier_report, monkeypatch):
    monkeypatch.setattr(report, "collect", lambda d: pytest.fail("read before the check"))
    (earlier_report / "curves.png").unlink()
    (earlier_report / "curves.png").mkdir()
    with pytest.raises(SweepError, match="curves.png: it is a directory"):
        report.write_report(earlier_report, earlier_report)
