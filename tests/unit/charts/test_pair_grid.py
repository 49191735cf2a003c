"""charts.pair_grid: a database's first pairs as a PNG grid."""

import numpy as np
import pytest

from caffesiam.charts.pair_grid import _displayable, plot_pair_grid


@pytest.mark.parametrize("channels", [1, 3])
def test_a_grid_has_one_row_per_pair(tmp_path, png, channels):
    rng = np.random.default_rng(0)
    a, b = (rng.integers(0, 256, size=(3, channels, 12, 10), dtype=np.uint8) for _ in range(2))
    out = plot_pair_grid(a, b, [1, 0, 1], tmp_path / "pairs.png")
    width, height, colours = png(out)
    assert (width, height) == (240, 360)  # 3 x 1.5 inches a row, at 80 dpi
    assert colours > 100


def test_images_are_shown_height_by_width():
    grey = np.arange(6, dtype=np.uint8).reshape(1, 2, 3)
    colour = np.arange(18, dtype=np.uint8).reshape(3, 2, 3)
    np.testing.assert_array_equal(_displayable(grey), grey[0])
    assert _displayable(colour).shape == (2, 3, 3)
    assert _displayable(colour)[1, 2].tolist() == [5, 11, 17]
