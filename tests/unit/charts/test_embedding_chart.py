"""charts.embedding: features as a scatter coloured by class, as a PNG."""

import numpy as np
import pytest

from caffesiam.charts.embedding import plot_embedding


@pytest.mark.parametrize("classes, dims", [(3, 2), (12, 16)])
def test_an_embedding_draws_to_a_png_of_its_size(tmp_path, png, classes, dims):
    rng = np.random.default_rng(0)
    labels = np.arange(300) % classes
    features = rng.normal(size=(300, dims)) + labels[:, None]
    names = [f"class {c}" for c in range(classes - 1)]  # the last class has no name: its number
    out = plot_embedding(features, labels, names, tmp_path / "embedding.png")
    width, height, colours = png(out)
    assert (width, height) == (800, 700)
    assert colours > classes
