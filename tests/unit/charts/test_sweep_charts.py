"""charts.sweep: a sweep's loss panels and accuracy bars, as PNGs."""

import pytest

from caffesiam.charts.sweep import plot_accuracy_bars, plot_loss_panels


def curve(scale: float):
    return [(i, scale / (1 + i)) for i in range(0, 100, 10)]


def test_one_panel_per_title(tmp_path, png):
    panels = {
        "contrastive loss": [("lr 0.01", curve(1.0)), ("lr 0.1", curve(2.0)), ("idle", [])],
        "triplet loss": [("lr 0.01", curve(0.5))],
    }
    width, height, colours = png(plot_loss_panels(panels, tmp_path / "curves.png", "sweep"))
    assert (width, height) == (1500, 600)  # 7.5 x 6 inches a panel, at 100 dpi
    assert colours > 10
    assert png(plot_loss_panels({}, tmp_path / "none.png", "sweep"))[:2] == (750, 600)


@pytest.mark.parametrize(
    "bars, size",
    [
        ([("0: lr 0.01", 91.5), ("1: lr 0.1", 97.25)], (1000, 180)),
        ([], (1000, 150)),  # "no point has finished yet"
        ([("x" * 100, 50.0)], (1300, 150)),  # room for a long label: 6 in + 0.07 in a character
    ],
)
def test_accuracy_bars_grow_with_their_labels_and_count(tmp_path, png, bars, size):
    width, height, _ = png(plot_accuracy_bars(bars, tmp_path / "accuracy.png", "sweep"))
    assert abs(width - size[0]) <= 1 and abs(height - size[1]) <= 1
