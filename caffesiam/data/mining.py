"""Offline hard-negative mining (pure): embeddings and labels -> a plan of (i, j, sim) rows whose
negatives are drawn among each anchor's nearest images of other classes.

sim = 1 means the two images show the SAME class (Caffe's convention). The rows start as
build-db's (data.pairs.sample_pairs, same seed): positives stay random same-class pairs. A share
of the negatives, chosen at random, become hard: each keeps its first image, the anchor, and
takes for its second one of the anchor's `neighbours` nearest images of another class.
"""

from dataclasses import dataclass

import numpy as np

from caffesiam.data.pairs import check_pairable, sample_pairs
from caffesiam.errors import BadOption

DISTANCES_AT_ONCE = 1 << 22  # anchors x images distances held at once (32 MB of float64)
_HARD_STREAM = 1  # the hard negatives' random stream, apart from sample_pairs's


@dataclass(frozen=True)
class MinedPairs:
    """The plan's rows [i, j, sim] and the indices of the rows whose negative is hard."""

    rows: np.ndarray
    hard_rows: np.ndarray


def check_mining(labels, neighbours: int):
    """DatasetError when the labels cannot make positive and negative pairs; BadOption when an
    image has fewer than `neighbours` images of other classes to draw its hard negative from."""
    labels = np.asarray(labels)
    check_pairable(labels)
    if neighbours < 1:
        raise BadOption("--neighbours", f"must be at least 1, got {neighbours}")
    classes, counts = np.unique(labels, return_counts=True)
    biggest = int(np.argmax(counts))
    others = len(labels) - int(counts[biggest])
    if neighbours > others:
        raise BadOption(
            "--neighbours",
            f"{neighbours} nearest images of other classes asked, but the images of class "
            f"{classes[biggest]} have only {others} of another class",
        )


def nearest_other_class(features, labels, anchors, k: int) -> np.ndarray:
    """len(anchors) x k image indices: each anchor's k nearest images of another class (Euclidean
    distance of the features), nearest first; equal distances in index order."""
    features = np.asarray(features, dtype=np.float64)
    labels, anchors = np.asarray(labels), np.asarray(anchors, dtype=np.int64)
    squares = np.einsum("ij,ij->i", features, features)
    near = np.empty((len(anchors), k), dtype=np.int64)
    step = max(1, DISTANCES_AT_ONCE // max(len(labels), 1))
    for start in range(0, len(anchors), step):
        rows = anchors[start : start + step]
        d = squares[rows, None] + squares[None, :] - 2.0 * (features[rows] @ features.T)
        d[labels[rows, None] == labels[None, :]] = np.inf
        near[start : start + len(rows)] = _k_smallest(d, k)
    return near


def _k_smallest(d: np.ndarray, k: int) -> np.ndarray:
    """Column indices of the k smallest values of each row of `d`, by (value, index); only the
    values up to each row's k-th smallest are sorted."""
    kth = np.partition(d, k - 1, axis=1)[:, k - 1 : k]
    if np.isinf(kth).any():
        raise ValueError(f"an anchor has fewer than {k} images of other classes (check_mining)")
    r, c = np.nonzero(d <= kth)  # row-major: each row's candidates in index order
    order = np.lexsort((c, d[r, c], r))
    starts = np.concatenate([[0], np.cumsum(np.bincount(r, minlength=len(d)))[:-1]])
    return c[order][starts[:, None] + np.arange(k)]


def mine_pairs(
    features,
    labels,
    n_pairs: int,
    positive_ratio: float = 0.5,
    hard_ratio: float = 1.0,
    neighbours: int = 10,
    seed: int = 0,
) -> MinedPairs:
    """`n_pairs` rows [i, j, sim], build-db's for `seed`, with round(hard_ratio x negatives) of
    the negatives (chosen at random) drawn among their anchor's `neighbours` nearest images of
    another class, uniformly. hard_ratio 0 gives build-db's rows exactly."""
    labels = np.asarray(labels)
    features = np.asarray(features)
    if features.ndim != 2 or len(features) != len(labels):
        raise ValueError(f"need one feature row per label, got {features.shape} for {len(labels)}")
    if not 0.0 <= hard_ratio <= 1.0:
        raise ValueError(f"hard_ratio must lie in [0, 1], got {hard_ratio}")
    check_mining(labels, neighbours)
    rows = sample_pairs(labels, n_pairs, positive_ratio, seed)
    negatives = np.flatnonzero(rows[:, 2] == 0)
    rng = np.random.default_rng([seed, _HARD_STREAM])
    hard = np.sort(rng.permutation(negatives)[: int(round(len(negatives) * hard_ratio))])
    anchors, where = np.unique(rows[hard, 0], return_inverse=True)
    near = nearest_other_class(features, labels, anchors, neighbours)
    rows[hard, 1] = near[where, rng.integers(0, neighbours, len(hard))]
    return MinedPairs(rows, hard)
