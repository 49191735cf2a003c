"""charts.pca: features in two dimensions, checked against the covariance's eigenvectors."""

import numpy as np
import pytest

from caffesiam.charts.pca import project_2d


def test_the_top_two_axes_match_the_covariance_eigenvectors():
    rng = np.random.default_rng(0)
    features = rng.normal(size=(200, 6)) * [5.0, 3.0, 1.0, 0.5, 0.2, 0.1] + 7.0
    points, names = project_2d(features)
    centred = features - features.mean(axis=0)
    values, vectors = np.linalg.eigh(centred.T @ centred)
    top = vectors[:, ::-1][:, :2]
    expected = centred @ top
    signs = np.sign((points * expected).sum(axis=0))  # an axis may come out either way round
    np.testing.assert_allclose(points * signs, expected, atol=1e-9)
    share = values[::-1] / values.sum()
    assert names == (f"PC1 ({share[0]:.0%} of variance)", f"PC2 ({share[1]:.0%} of variance)")
    assert share[0] > share[1] > 0.05


def test_feature_maps_are_flattened_first():
    rng = np.random.default_rng(1)
    maps = rng.normal(size=(30, 2, 2, 2))
    np.testing.assert_allclose(project_2d(maps)[0], project_2d(maps.reshape(30, 8))[0])


@pytest.mark.parametrize("dims", [1, 2])
def test_features_of_two_dimensions_or_fewer_are_drawn_as_they_are(dims):
    features = np.arange(10.0 * dims).reshape(10, dims)
    points, names = project_2d(features)
    np.testing.assert_array_equal(points[:, :dims], features)
    np.testing.assert_array_equal(points[:, dims:], 0)
    assert names == ("feature 1", "feature 2")


def test_identical_features_do_not_divide_by_zero():
    points, names = project_2d(np.ones((5, 4)))
    np.testing.assert_array_equal(points, 0)
    assert names == ("PC1 (0% of variance)", "PC2 (0% of variance)")
