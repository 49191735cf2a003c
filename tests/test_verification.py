"""Pure pair-verification metrics against hand cases and scikit-learn (an independent check)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import brentq
from sklearn.metrics import roc_auc_score
from sklearn.metrics import roc_curve as sk_roc_curve

from caffesiam.caffe.weights import _same_shape
from caffesiam.evaluate import metrics as v


def test_small_distance_means_same_class():
    d = np.array([0.1, 0.2, 0.9, 1.5])
    sims = np.array([1, 1, 0, 0])  # Caffe: sim=1 same class
    r = v.verification_report(d, sims, margin=1.0)
    assert r["accuracy_half_margin"] == 1.0 and r["auc"] == 1.0 and r["eer"] == 0.0
    assert (r["positives"], r["negatives"], r["positive_ratio"]) == (2, 2, 0.5)
    flipped = v.verification_report(d, 1 - sims, margin=1.0)
    assert (
        flipped["accuracy_half_margin"] == 0.0 and flipped["auc"] == 0.0 and flipped["eer"] == 1.0
    )


def test_all_ties_are_chance():
    r = v.verification_report(np.ones(6), np.array([1, 0, 1, 0, 1, 0]))
    assert r["auc"] == 0.5 and r["eer"] == pytest.approx(0.5)


def test_one_kind_of_pair_has_no_roc():
    r = v.verification_report(np.array([0.1, 0.7, 0.3]), np.array([1, 1, 1]))
    assert (
        r["auc"] is None and r["eer"] is None and r["accuracy_half_margin"] == pytest.approx(2 / 3)
    )


def test_distances_are_euclidean():
    a = np.array([[0.0, 0.0], [1.0, 1.0]])
    b = np.array([[3.0, 4.0], [1.0, 1.0]])
    assert v.pair_distances(a, b).tolist() == [5.0, 0.0]


def test_split_halves_is_seeded_and_disjoint():
    a1, b1 = v.split_halves(11, 3)
    a2, b2 = v.split_halves(11, 3)
    assert a1.tolist() == a2.tolist() and b1.tolist() == b2.tolist()
    assert sorted(a1.tolist() + b1.tolist()) == list(range(11)) and len(a1) == 5


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 12), st.booleans()), min_size=4, max_size=60),
    st.integers(0, 5),
)
def test_auc_eer_and_best_threshold_agree_with_independent_computations(rows, seed):
    d = np.array([r[0] for r in rows], dtype=float) / 4  # many ties on purpose
    sims = np.array([int(r[1]) for r in rows])
    r = v.verification_report(d, sims, margin=1.0, seed=seed)
    if 0 < sims.sum() < len(sims):
        assert r["auc"] == pytest.approx(roc_auc_score(sims, -d), abs=1e-12)
        # The usual recipe: the false positive rate x where the ROC, linear between sklearn's
        # points, meets 1 - x, found by root search (ties make vertical steps; the root is there).
        fpr, tpr, _ = sk_roc_curve(sims, -d, drop_intermediate=False)
        expected = brentq(lambda x: 1 - x - np.interp(x, fpr, tpr), 0, 1, xtol=1e-14)
        assert r["eer"] == pytest.approx(expected, abs=1e-9)
    # Each fold threshold is a best one on the half it was chosen on (brute force over all cuts).
    halves = v.split_halves(len(d), seed)
    cuts = np.concatenate([np.unique(d), [d.max() + 1]])
    for (fit, _held), threshold in zip((halves, halves[::-1]), r["best_threshold_folds"]):
        best = max(np.mean((d[fit] < c) == (sims[fit] == 1)) for c in cuts)
        assert np.mean((d[fit] < threshold) == (sims[fit] == 1)) == pytest.approx(best)
    # ... and the held-out accuracy scores each half with the other half's threshold.
    correct = sum(
        np.sum((d[held] < t) == (sims[held] == 1))
        for (_, held), t in zip((halves, halves[::-1]), r["best_threshold_folds"])
    )
    assert r["best_threshold_accuracy"] == pytest.approx(correct / len(d))
    assert r["accuracy_half_margin"] == pytest.approx(np.mean((d < 0.5) == (sims == 1)))


def test_legacy_blob_shapes_match_as_caffe_does():
    assert _same_shape([20, 1, 5, 5], [20, 1, 5, 5])
    assert _same_shape([500], [1, 1, 1, 500])  # legacy num/channels/height/width
    assert not _same_shape([3, 10], [2, 10])
