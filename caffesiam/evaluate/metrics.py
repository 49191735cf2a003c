"""Pair verification metrics from distances, in numpy alone: no I/O, no Caffe.

Labels follow Caffe's convention: sim = 1 means the two images show the same class, so a
SMALL distance predicts "same". Every rule here is "same if distance < threshold".
"""

import numpy as np

from caffesiam.limits import MIN_PAIRS

FOLDS = 10  # LFW's
FARS = (1e-2, 1e-3)  # the false accept rates at which the true accept rate is reported


def pair_distances(features_a: np.ndarray, features_b: np.ndarray) -> np.ndarray:
    """Euclidean distance of each row pair (features flattened per row), in float64."""
    a = np.asarray(features_a, dtype=np.float64).reshape(len(features_a), -1)
    b = np.asarray(features_b, dtype=np.float64).reshape(len(features_b), -1)
    return np.sqrt(((a - b) ** 2).sum(axis=1))


def accuracy_at(distances: np.ndarray, sims: np.ndarray, threshold: float) -> float:
    """Fraction of pairs where (distance < threshold) agrees with sim == 1."""
    predicted_same = np.asarray(distances) < threshold
    return float(np.mean(predicted_same == (np.asarray(sims) == 1)))


def threshold_sweep(distances, sims) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(thresholds, positives below, negatives below) for every distinct decision.

    Thresholds rise from "nothing is same" (the smallest distance) through the midpoints of
    consecutive distinct distances to "everything is same" (above the largest).
    """
    distances = np.asarray(distances, dtype=np.float64)
    same = np.asarray(sims) == 1
    values, inverse = np.unique(distances, return_inverse=True)
    pos = np.bincount(inverse, weights=same, minlength=len(values))
    neg = np.bincount(inverse, weights=~same, minlength=len(values))
    thresholds = np.concatenate([values[:1], (values[:-1] + values[1:]) / 2, values[-1:] + 1.0])
    pos_below = np.concatenate([[0], np.cumsum(pos)])
    neg_below = np.concatenate([[0], np.cumsum(neg)])
    return thresholds, pos_below, neg_below


def roc_curve(distances, sims) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(false positive rate, true positive rate, threshold) from (0, 0) to (1, 1).

    A positive is a same-class pair (sim = 1) predicted same, i.e. distance < threshold.
    """
    thresholds, pos_below, neg_below = threshold_sweep(distances, sims)
    return neg_below / neg_below[-1], pos_below / pos_below[-1], thresholds


def auc(fpr: np.ndarray, tpr: np.ndarray) -> float:
    """Area under the ROC curve by the trapezoid rule (ties count one half, as Mann-Whitney)."""
    return float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2))


def equal_error_rate(fpr, tpr, thresholds) -> tuple[float, float]:
    """(rate, threshold) where false accepts equal false rejects, linearly interpolated."""
    gap = fpr - (1 - tpr)  # rises from -1 to +1 along the curve
    i = int(np.argmax(gap >= 0))
    if i == 0:
        return float(fpr[0]), float(thresholds[0])
    t = gap[i - 1] / (gap[i - 1] - gap[i])
    rate = fpr[i - 1] + t * (fpr[i] - fpr[i - 1])
    return float(rate), float(thresholds[i - 1] + t * (thresholds[i] - thresholds[i - 1]))


def best_threshold(distances, sims) -> tuple[float, float]:
    """(threshold, accuracy) of the threshold with the highest accuracy on these pairs."""
    thresholds, pos_below, neg_below = threshold_sweep(distances, sims)
    correct = pos_below + (neg_below[-1] - neg_below)
    k = int(np.argmax(correct))
    return float(thresholds[k]), float(correct[k] / len(np.asarray(sims)))


def split_halves(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Two disjoint index halves of range(n), shuffled by `seed` (the same seed, the same split)."""
    order = np.random.default_rng(seed).permutation(n)
    return np.sort(order[: n // 2]), np.sort(order[n // 2 :])


def cross_validated(distances, sims, parts) -> tuple[np.ndarray, np.ndarray]:
    """(accuracy of each part, its threshold): each part is scored at the best threshold of
    the pairs of all the other parts, so no pair is scored by a threshold tuned on it."""
    distances, sims = np.asarray(distances), np.asarray(sims)
    accuracies, thresholds = [], []
    for k, held in enumerate(parts):
        fit = np.concatenate([part for j, part in enumerate(parts) if j != k])
        threshold, _ = best_threshold(distances[fit], sims[fit])
        thresholds.append(threshold)
        accuracies.append(accuracy_at(distances[held], sims[held], threshold))
    return np.asarray(accuracies), np.asarray(thresholds)


def held_out_accuracy(distances, sims, seed: int = 0) -> dict:
    """Best-threshold accuracy measured honestly: chosen on one half, scored on the other.

    Both halves take each role once, so every pair is scored by a threshold not tuned on it;
    the accuracy is the total correct over all pairs.
    """
    first, second = split_halves(len(distances), seed)
    # the second half first, so the thresholds come as chosen on the first half, then the second
    accuracies, thresholds = cross_validated(distances, sims, [second, first])
    correct = accuracies[0] * len(second) + accuracies[1] * len(first)
    return {"accuracy": correct / len(distances), "thresholds": thresholds.tolist()}


def kfold_accuracy(distances, sims, folds: int = 10, seed: int = 0) -> dict:
    """LFW's protocol: the pairs shuffled (`seed`) into `folds` folds, each scored at the best
    threshold of the other folds; their mean accuracy and its standard error (sample standard
    deviation / sqrt(folds))."""
    if not 2 <= folds <= len(distances):
        raise ValueError(f"folds must be from 2 to the number of pairs, {len(distances)}: {folds}")
    order = np.random.default_rng(seed).permutation(len(distances))
    accuracies, thresholds = cross_validated(distances, sims, np.array_split(order, folds))
    return {
        "folds": folds,
        "accuracy": float(accuracies.mean()),
        "standard_error": float(accuracies.std(ddof=1) / np.sqrt(folds)),
        "fold_accuracies": accuracies.tolist(),
        "fold_thresholds": thresholds.tolist(),
    }


def tar_at_far(distances, sims, far: float) -> dict:
    """The true accept rate (same pairs called same) at the largest threshold whose false
    accept rate (different pairs called same) is at most `far`; tar and threshold are None when
    fewer than 1/far different pairs (or no same pair) leave that rate unmeasurable."""
    same = np.asarray(sims) == 1
    if round((~same).sum() * far, 9) < 1 or not same.any():
        return {"far": far, "tar": None, "threshold": None}
    fpr, tpr, thresholds = roc_curve(distances, sims)
    k = int(np.flatnonzero(fpr <= far)[-1])  # the rates only rise with the threshold
    return {"far": far, "tar": float(tpr[k]), "threshold": float(thresholds[k])}


def verification_report(
    distances, sims, margin: float = 1.0, seed: int = 0, folds: int = FOLDS
) -> dict:
    """Every number `caffesiam evaluate` reports of pairs, as a JSON-ready dict; k-fold
    accuracy over `folds` folds, or one per pair where there are fewer pairs."""
    distances, sims = np.asarray(distances, dtype=np.float64), np.asarray(sims)
    if len(distances) < MIN_PAIRS:
        raise ValueError(f"at least {MIN_PAIRS} pairs are needed")
    positives = int((sims == 1).sum())
    negatives = len(sims) - positives
    report = {
        "pairs": len(sims),
        "positives": positives,
        "negatives": negatives,
        "positive_ratio": positives / len(sims),
        "chance_accuracy": max(positives, negatives) / len(sims),
        "margin": margin,
        "threshold_half_margin": margin / 2,
        "accuracy_half_margin": accuracy_at(distances, sims, margin / 2),
        "mean_distance_same": _mean_or_none(distances[sims == 1]),
        "mean_distance_different": _mean_or_none(distances[sims != 1]),
        "auc": None,
        "eer": None,
        "eer_threshold": None,
    }
    held = held_out_accuracy(distances, sims, seed)
    threshold, _ = best_threshold(distances, sims)
    report.update(
        best_threshold_accuracy=held["accuracy"],
        best_threshold_folds=held["thresholds"],
        best_threshold_all_pairs=threshold,
        split_seed=seed,
        kfold=kfold_accuracy(distances, sims, min(folds, len(distances)), seed),
        tar_at_far=[tar_at_far(distances, sims, far) for far in FARS],
    )
    if positives and negatives:  # ROC needs both kinds of pair
        fpr, tpr, thresholds = roc_curve(distances, sims)
        report["auc"] = auc(fpr, tpr)
        report["eer"], report["eer_threshold"] = equal_error_rate(fpr, tpr, thresholds)
    return report


def _mean_or_none(values: np.ndarray) -> float | None:
    return float(values.mean()) if len(values) else None
