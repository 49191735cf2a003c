"""Pure pair sampling: labels, count, ratio and seed -> a plan of (i, j, sim) rows.

sim = 1 means the two images show the SAME class (Caffe's convention).
"""

import numpy as np

from caffesiam.errors import DatasetError

CHUNK = 1 << 16


def sample_pairs(
    labels,
    n_pairs: int,
    positive_ratio: float = 0.5,
    seed: int = 0,
    allow_self: bool = False,
    caffe_compat: bool = False,
) -> np.ndarray:
    """Plan of `n_pairs` rows [i, j, sim] (int32 or int64); sim = 1 when labels[i] == labels[j].

    Balanced to `positive_ratio` by default; `caffe_compat` draws both images uniformly at
    random instead, as convert_mnist_siamese_data.cpp does (about 10% positives on MNIST).
    """
    labels = np.asarray(labels)
    if not 0.0 <= positive_ratio <= 1.0:
        raise ValueError(f"positive_ratio must lie in [0, 1], got {positive_ratio}")
    if n_pairs < 1:
        raise ValueError(f"n_pairs must be at least 1, got {n_pairs}")
    groups = _ClassGroups(labels)
    groups.check_trainable(allow_self)
    rng = np.random.default_rng(seed)
    n_pos_total = int(round(n_pairs * positive_ratio))
    plan = np.empty((n_pairs, 3), dtype=np.int64 if len(labels) > 2**31 - 1 else np.int32)
    for start in range(0, n_pairs, CHUNK):  # chunks keep temporaries small for huge counts
        end = min(start + CHUNK, n_pairs)
        if caffe_compat:
            i, j = _uniform_pairs(rng, len(labels), end - start, allow_self)
        else:
            n_pos = _share(end, n_pos_total, n_pairs) - _share(start, n_pos_total, n_pairs)
            pi, pj = groups.positives(rng, n_pos, allow_self)
            ni, nj = groups.negatives(rng, end - start - n_pos)
            order = rng.permutation(end - start)  # interleave, so no batch is all one kind
            i = np.concatenate([pi, ni])[order]
            j = np.concatenate([pj, nj])[order]
        plan[start:end, 0], plan[start:end, 1] = i, j
        plan[start:end, 2] = labels[i] == labels[j]
    return plan


def sample_triplets(labels, n_triplets: int, seed: int = 0) -> np.ndarray:
    """Plan of `n_triplets` rows [anchor, positive, negative, 0]: the positive is another image of
    the anchor's class, the negative an image of another class; the last column is the unused label.
    """
    labels = np.asarray(labels)
    if n_triplets < 1:
        raise ValueError(f"n_triplets must be at least 1, got {n_triplets}")
    groups = _ClassGroups(labels)
    groups.check_trainable(allow_self=False)
    rng = np.random.default_rng(seed)
    plan = np.zeros((n_triplets, 4), dtype=np.int64 if len(labels) > 2**31 - 1 else np.int32)
    for start in range(0, n_triplets, CHUNK):
        end = min(start + CHUNK, n_triplets)
        anchor, positive = groups.positives(rng, end - start, allow_self=False)
        plan[start:end, 0], plan[start:end, 1] = anchor, positive
        plan[start:end, 2] = groups.negatives_of(rng, anchor)
    return plan


def check_pairable(labels, allow_self: bool = False):
    """DatasetError when `labels` cannot make both positive (sim=1) and negative (sim=0) pairs."""
    _ClassGroups(np.asarray(labels)).check_trainable(allow_self)


def _share(upto: int, total: int, n: int) -> int:
    """Positives among the first `upto` pairs, so that chunks add up to exactly `total`."""
    return (upto * total + n // 2) // n


def split_by_image(n_images: int, test_fraction: float, seed: int = 0):
    """Disjoint (train, test) index arrays, so no image lands in both splits."""
    if not 0.0 <= test_fraction < 1.0:
        raise ValueError(f"test_fraction must lie in [0, 1), got {test_fraction}")
    order = np.random.default_rng(seed).permutation(n_images)
    n_test = int(round(n_images * test_fraction))
    return np.sort(order[n_test:]), np.sort(order[:n_test])


def _uniform_pairs(rng, n_images, n_pairs, allow_self):
    i = rng.integers(0, n_images, n_pairs)
    j = rng.integers(0, n_images, n_pairs)
    while not allow_self and (clash := i == j).any():
        j[clash] = rng.integers(0, n_images, int(clash.sum()))
    return i, j


class _ClassGroups:
    """Image indices sorted by class, with each class's start and size, for O(1) draws."""

    def __init__(self, labels: np.ndarray):
        self.n = len(labels)
        self.order = np.argsort(labels, kind="stable")
        _, self.starts, self.counts = np.unique(
            labels[self.order], return_index=True, return_counts=True
        )
        self.cls = np.empty(self.n, dtype=np.int64)  # class number of each image
        self.cls[self.order] = np.repeat(np.arange(len(self.counts)), self.counts)
        self.rank = np.empty(self.n, dtype=np.int64)  # position of each image within its class
        self.rank[self.order] = np.arange(self.n) - np.repeat(self.starts, self.counts)

    def check_trainable(self, allow_self):
        if self.n < 2 and not allow_self:
            raise DatasetError(f"need at least 2 images to make pairs, found {self.n}")
        if len(self.counts) < 2:
            raise DatasetError("all images are of one class: no negative (sim=0) pair is possible")
        if not allow_self and self.counts.max() < 2:
            raise DatasetError(
                "every class has a single image: no positive (sim=1) pair is possible"
            )

    def positives(self, rng, n, allow_self):
        """n same-class pairs; the first image is uniform over images whose class can pair."""
        min_size = 1 if allow_self else 2
        pool = np.flatnonzero(self.counts[self.cls] >= min_size)
        i = pool[rng.integers(0, len(pool), n)]
        c = self.cls[i]
        if allow_self:
            r = rng.integers(0, self.counts[c])
        else:
            r = rng.integers(0, self.counts[c] - 1)
            r += r >= self.rank[i]  # skip the first image itself
        return i, self.order[self.starts[c] + r]

    def negatives(self, rng, n):
        """n different-class pairs; classes with one image take part too."""
        i = rng.integers(0, self.n, n)
        return i, self.negatives_of(rng, i)

    def negatives_of(self, rng, i):
        """One image of another class for each image in `i`, uniform over those images."""
        c = self.cls[i]
        r = rng.integers(0, self.n - self.counts[c])
        r += np.where(r >= self.starts[c], self.counts[c], 0)  # jump over i's own class
        return self.order[r]
