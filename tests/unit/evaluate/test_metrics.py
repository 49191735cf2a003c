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


def brute_force_kfold(distances, sims, folds, seed):
    """LFW's k-fold accuracy computed directly: every cut tried on the other folds' pairs, the
    lowest of the best scored on the held fold."""
    order = np.random.default_rng(seed).permutation(len(distances))
    parts = np.array_split(order, folds)
    accuracies = []
    for k, held in enumerate(parts):
        fit = np.concatenate(parts[:k] + parts[k + 1 :])
        values = np.unique(distances[fit])
        cuts = [values[0]] + [(a + b) / 2 for a, b in zip(values, values[1:])] + [values[-1] + 1]
        scores = [np.mean((distances[fit] < c) == (sims[fit] == 1)) for c in cuts]
        cut = cuts[int(np.argmax(scores))]
        accuracies.append(np.mean((distances[held] < cut) == (sims[held] == 1)))
    return np.array(accuracies)


@pytest.mark.parametrize("folds, seed", [(10, 0), (7, 3), (2, 1)])
def test_kfold_accuracy_is_the_direct_computation(folds, seed):
    found = metrics.kfold_accuracy(DISTANCES, SIMS, folds, seed)
    expected = brute_force_kfold(DISTANCES, SIMS, folds, seed)
    assert found["fold_accuracies"] == pytest.approx(expected.tolist())
    assert found["accuracy"] == pytest.approx(expected.mean())
    standard_error = np.sqrt(((expected - expected.mean()) ** 2).sum() / (folds - 1) / folds)
    assert found["standard_error"] == pytest.approx(standard_error)
    assert (found["folds"], len(found["fold_thresholds"])) == (folds, folds)


@pytest.mark.parametrize("seed", range(4))
def test_kfold_accuracy_by_hand(seed):
    # same pairs at 0.1, different ones at 0.9, but for one different pair at 0.3. Held out, it
    # is called same by the threshold of the other fold (0.5, or 0.9 when that fold holds no
    # same pair): that fold scores 4/5. The other fit on it cuts below 0.3 and scores 1.
    d = np.array([0.1, 0.1, 0.1, 0.1, 0.3, 0.9, 0.9, 0.9, 0.9, 0.9])
    sims = np.array([1, 1, 1, 1, 0, 0, 0, 0, 0, 0])
    found = metrics.kfold_accuracy(d, sims, folds=2, seed=seed)
    assert sorted(found["fold_accuracies"]) == [0.8, 1.0]
    assert found["accuracy"] == pytest.approx(0.9)
    assert found["standard_error"] == pytest.approx(0.1)  # sd sqrt(0.02) / sqrt(2)


def test_kfold_needs_two_folds_and_a_pair_in_each():
    for folds in (1, 301):
        with pytest.raises(ValueError, match="folds must be from 2 to the number of pairs, 300"):
            metrics.kfold_accuracy(DISTANCES, SIMS, folds)


def test_held_out_accuracy_is_two_fold_pooled_by_pairs():
    held = metrics.held_out_accuracy(DISTANCES, SIMS, seed=4)
    first, second = metrics.split_halves(300, 4)
    t_first, _ = metrics.best_threshold(DISTANCES[first], SIMS[first])
    t_second, _ = metrics.best_threshold(DISTANCES[second], SIMS[second])
    assert held["thresholds"] == [t_first, t_second]
    correct = ((DISTANCES[second] < t_first) == (SIMS[second] == 1)).sum() + (
        (DISTANCES[first] < t_second) == (SIMS[first] == 1)
    ).sum()
    assert held["accuracy"] == pytest.approx(correct / 300)


def test_tar_at_far_by_hand():
    negatives = np.arange(10.0, 110.0)  # 100 different pairs: FAR 1e-2 lets one through
    positives = np.array([1, 2, 3, 4, 5, 6, 7, 8, 10.5, 50])
    d = np.concatenate([positives, negatives])
    sims = np.concatenate([np.ones(10, int), np.zeros(100, int)])
    # the largest cut with one different pair below it lies between 10.5 and 11: 9 of 10 same
    assert metrics.tar_at_far(d, sims, 1e-2) == {"far": 1e-2, "tar": 0.9, "threshold": 10.75}
    # FAR 1e-3 needs 1,000 different pairs to be measured
    assert metrics.tar_at_far(d, sims, 1e-3) == {"far": 1e-3, "tar": None, "threshold": None}
    many = np.concatenate([positives, np.arange(10.0, 1010.0)])
    tar = metrics.tar_at_far(many, np.concatenate([np.ones(10, int), np.zeros(1000, int)]), 1e-3)
    assert (tar["tar"], tar["threshold"]) == (0.9, 10.75)
    no_same = metrics.tar_at_far(negatives, np.zeros(100, int), 1e-2)
    assert no_same["tar"] is None


def test_tar_at_far_is_the_best_rate_that_keeps_false_accepts_within_the_far():
    fpr, tpr, _ = metrics.roc_curve(DISTANCES, SIMS)
    found = metrics.tar_at_far(DISTANCES, SIMS, 0.01)
    assert found["tar"] == tpr[fpr <= 0.01].max()
    accepted = DISTANCES < found["threshold"]
    assert accepted[SIMS == 0].mean() <= 0.01 and accepted[SIMS == 1].mean() == found["tar"]


def test_the_report_holds_kfold_and_tar_and_caps_the_folds_at_the_pairs():
    report = metrics.verification_report(DISTANCES, SIMS, folds=5, seed=2)
    assert report["kfold"] == metrics.kfold_accuracy(DISTANCES, SIMS, 5, 2)
    assert [t["far"] for t in report["tar_at_far"]] == [1e-2, 1e-3]
    few = metrics.verification_report(DISTANCES[:4], SIMS[:4])
    assert few["kfold"]["folds"] == 4
