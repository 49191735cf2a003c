"""The verification metrics against scikit-learn and brute force, function by function."""

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score
from sklearn.metrics import roc_curve as sk_roc_curve

from caffesiam.evaluate import metrics

RNG = np.random.default_rng(7)
DISTANCES = np.round(RNG.gamma(2.0, 0.5, 300), 2)  # rounded: ties on purpose
SIMS = (RNG.random(300) < 1 / (1 + DISTANCES)).astype(int)  # close pairs tend to be same


def test_the_roc_curve_has_every_point_of_sklearns():
    fpr, tpr, thresholds = metrics.roc_curve(DISTANCES, SIMS)
    sk_fpr, sk_tpr, _ = sk_roc_curve(SIMS, -DISTANCES, drop_intermediate=False)
    ours = set(zip(fpr.round(12), tpr.round(12)))
    assert set(zip(sk_fpr.round(12), sk_tpr.round(12))) <= ours
    assert (fpr[0], tpr[0], fpr[-1], tpr[-1]) == (0, 0, 1, 1)
    assert np.all(np.diff(thresholds) > 0) and np.all(np.diff(fpr) >= 0)
    # each point is what its threshold does: same if distance < threshold
    for f, t, cut in zip(fpr, tpr, thresholds):
        predicted = DISTANCES < cut
        assert f == pytest.approx(predicted[SIMS == 0].mean())
        assert t == pytest.approx(predicted[SIMS == 1].mean())


def test_auc_of_the_curve_is_sklearns():
    fpr, tpr, _ = metrics.roc_curve(DISTANCES, SIMS)
    assert metrics.auc(fpr, tpr) == pytest.approx(roc_auc_score(SIMS, -DISTANCES), abs=1e-12)


def test_the_best_threshold_is_a_best_cut_by_brute_force():
    threshold, accuracy = metrics.best_threshold(DISTANCES, SIMS)
    cuts = np.concatenate([np.unique(DISTANCES), [DISTANCES.max() + 1]])
    best = max(np.mean((DISTANCES < c) == (SIMS == 1)) for c in cuts)
    assert accuracy == pytest.approx(best)
    assert metrics.accuracy_at(DISTANCES, SIMS, threshold) == pytest.approx(best)


def test_accuracy_at_counts_distance_below_the_threshold_as_same():
    d, sims = np.array([0.1, 0.5, 0.9]), np.array([1, 1, 0])
    assert metrics.accuracy_at(d, sims, 0.5) == pytest.approx(2 / 3)  # 0.5 is not below 0.5
    assert metrics.accuracy_at(d, sims, 0.51) == 1.0
    assert metrics.accuracy_at(d, sims, 0.0) == pytest.approx(1 / 3)


def test_equal_error_rate_of_a_perfect_and_of_an_interpolated_curve():
    fpr, tpr, th = metrics.roc_curve(np.array([0.1, 0.2, 0.8, 0.9]), np.array([1, 1, 0, 0]))
    assert metrics.equal_error_rate(fpr, tpr, th) == (0.0, pytest.approx(0.5))
    # between (0, 0.5) and (0.5, 1) at threshold 1 and 2, the line meets 1 - x at x = 0.25
    rate, threshold = metrics.equal_error_rate(
        np.array([0.0, 0.0, 0.5, 1.0]), np.array([0.0, 0.5, 1.0, 1.0]), np.array([0, 1, 2, 3])
    )
    assert (rate, threshold) == (pytest.approx(0.25), pytest.approx(1.5))


def test_pair_distances_flatten_each_row():
    a = RNG.normal(size=(5, 2, 3, 3)).astype(np.float32)
    b = RNG.normal(size=(5, 18)).astype(np.float32)
    expected = np.linalg.norm(a.reshape(5, -1).astype(np.float64) - b, axis=1)
    assert metrics.pair_distances(a, b) == pytest.approx(expected)
    assert metrics.pair_distances(a, b).dtype == np.float64


def test_threshold_sweep_counts_pairs_below_each_threshold():
    thresholds, pos, neg = metrics.threshold_sweep([0.2, 0.2, 0.4, 1.0], [1, 0, 1, 0])
    assert thresholds.tolist() == pytest.approx([0.2, 0.3, 0.7, 2.0])
    assert (pos.tolist(), neg.tolist()) == ([0, 1, 2, 2], [0, 1, 1, 2])


def test_a_report_needs_two_pairs():
    with pytest.raises(ValueError, match="at least 2 pairs"):
        metrics.verification_report(np.array([0.5]), np.array([1]))
