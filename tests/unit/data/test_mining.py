"""data.mining: hard negatives are the anchor's nearest images of other classes (checked against
a brute-force search written here), positives and the rest stay build-db's."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from caffesiam.data import mining
from caffesiam.data.mining import check_mining, mine_pairs, nearest_other_class
from caffesiam.data.pairs import sample_pairs
from caffesiam.errors import BadOption, DatasetError

# A hand-made 2-D embedding: class 0 along the x axis, class 1 above it, class 2 far away.
POINTS = np.array(
    [[0, 0], [1, 0], [2, 0], [3, 0], [0.5, 1.1], [2.6, 0.4], [9, 9], [9, 8], [30, 30]],
    dtype=np.float32,
)
LABELS = np.array([0, 0, 0, 0, 1, 1, 2, 2, 2])


def brute_nearest(points, labels, anchor, k):
    """The k nearest other-class images of `anchor`, by (distance, index), the slow way."""
    others = [j for j in range(len(labels)) if labels[j] != labels[anchor]]
    return sorted(others, key=lambda j: (math.dist(points[anchor], points[j]), j))[:k]


def test_the_nearest_other_class_images_of_a_hand_made_embedding():
    near = nearest_other_class(POINTS, LABELS, [0, 3, 4, 6, 8], 2)
    # image 0 at (0,0): class 1's (0.5,1.1) then (2.6,0.4); image 3 at (3,0): (2.6,0.4) then
    # (0.5,1.1); image 4: (0,0) and (1,0), as far, in index order; images 6 and 8 of class 2:
    # (2.6,0.4) then (3,0), never 6 or 8's own class
    assert near.tolist() == [[4, 5], [5, 4], [0, 1], [5, 3], [5, 3]]
    for anchor, row in zip([0, 3, 4, 6, 8], near):
        assert row.tolist() == brute_nearest(POINTS, LABELS, anchor, 2)


def test_equal_distances_are_taken_in_index_order():
    points = np.array([[0, 0], [1, 0], [1, 0], [-1, 0], [1, 0]], dtype=np.float32)
    labels = np.array([0, 1, 1, 1, 0])
    assert nearest_other_class(points, labels, [0], 3).tolist() == [[1, 2, 3]]
    assert nearest_other_class(np.zeros((5, 3)), labels, [0, 1], 2).tolist() == [[1, 2], [0, 4]]


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(9, 40),  # 3 classes: every image has 6 or more of other classes
    k=st.integers(1, 3),
    seed=st.integers(0, 2**16),
    step=st.integers(1, 50),
)
def test_nearest_matches_a_brute_force_search_in_any_chunking(n, k, seed, step):
    rng = np.random.default_rng(seed)
    points = rng.integers(-3, 4, (n, 2)).astype(np.float32)  # small integers: many ties
    labels = np.arange(n) % 3
    anchors = rng.integers(0, n, 7)
    expected = [brute_nearest(points, labels, a, k) for a in anchors]
    old = mining.DISTANCES_AT_ONCE
    try:
        mining.DISTANCES_AT_ONCE = step
        assert nearest_other_class(points, labels, anchors, k).tolist() == expected
    finally:
        mining.DISTANCES_AT_ONCE = old


def check_labels(rows, labels):
    """Positives (sim=1) show one class, negatives (sim=0) two, no image is paired with itself."""
    i, j, sim = rows.T
    assert set(sim.tolist()) <= {0, 1}
    assert (labels[i[sim == 1]] == labels[j[sim == 1]]).all()
    assert (labels[i[sim == 0]] != labels[j[sim == 0]]).all()
    assert (i != j).all()


def embedding(n=300, seed=3):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 4, n)
    return rng.normal(size=(n, 5)) + labels[:, None], labels


def test_hard_ratio_1_draws_every_negative_among_its_anchors_nearest():
    features, labels = embedding()
    mined = mine_pairs(features, labels, 500, hard_ratio=1.0, neighbours=4, seed=7)
    rows = mined.rows
    check_labels(rows, labels)
    negatives = np.flatnonzero(rows[:, 2] == 0)
    assert mined.hard_rows.tolist() == negatives.tolist()
    assert (rows[:, 2] == 1).sum() == 250  # balanced, as build-db
    for i, j, _ in rows[negatives]:
        assert j in brute_nearest(features, labels, i, 4)
    firsts = sample_pairs(labels, 500, 0.5, 7)
    assert np.array_equal(rows[:, 0], firsts[:, 0])  # anchors as build-db drew them
    assert np.array_equal(rows[rows[:, 2] == 1], firsts[firsts[:, 2] == 1])


def test_neighbours_1_is_always_the_nearest():
    features, labels = embedding()
    rows = mine_pairs(features, labels, 200, hard_ratio=1.0, neighbours=1, seed=2).rows
    for i, j, sim in rows:
        if sim == 0:
            assert [j] == brute_nearest(features, labels, i, 1)


def test_hard_ratio_0_gives_build_dbs_random_pairs():
    features, labels = embedding()
    mined = mine_pairs(features, labels, 400, 0.5, hard_ratio=0.0, neighbours=3, seed=11)
    assert np.array_equal(mined.rows, sample_pairs(labels, 400, 0.5, 11))
    assert len(mined.hard_rows) == 0


@pytest.mark.parametrize("ratio", [0.25, 0.5, 0.9])
def test_a_ratio_mixes_hard_negatives_into_build_dbs_pairs(ratio):
    features, labels = embedding()
    mined = mine_pairs(features, labels, 401, 0.3, hard_ratio=ratio, neighbours=2, seed=5)
    plain = sample_pairs(labels, 401, 0.3, 5)
    negatives = np.flatnonzero(plain[:, 2] == 0)
    assert len(mined.hard_rows) == round(len(negatives) * ratio)
    assert set(mined.hard_rows.tolist()) <= set(negatives.tolist())
    kept = np.setdiff1d(np.arange(401), mined.hard_rows)
    assert np.array_equal(mined.rows[kept], plain[kept])
    check_labels(mined.rows, labels)
    for i, j, _ in mined.rows[mined.hard_rows]:
        assert j in brute_nearest(features, labels, i, 2)


def test_same_seed_same_pairs_another_seed_others():
    features, labels = embedding()
    first = mine_pairs(features, labels, 300, hard_ratio=0.5, neighbours=5, seed=1)
    again = mine_pairs(features, labels, 300, hard_ratio=0.5, neighbours=5, seed=1)
    other = mine_pairs(features, labels, 300, hard_ratio=0.5, neighbours=5, seed=2)
    assert np.array_equal(first.rows, again.rows)
    assert np.array_equal(first.hard_rows, again.hard_rows)
    assert not np.array_equal(first.rows, other.rows)


@pytest.mark.parametrize(
    "labels, message",
    [
        ([3, 3, 3, 3], "one class"),
        ([5], "at least 2 images"),
        ([0, 1, 2], "single image"),
    ],
)
def test_labels_that_cannot_make_pairs_are_refused(labels, message):
    with pytest.raises(DatasetError, match=message):
        mine_pairs(np.zeros((len(labels), 2)), labels, 10)


def test_more_neighbours_than_images_of_other_classes_is_refused():
    labels = [0] * 6 + [1] * 3 + [2] * 2
    check_mining(labels, 5)  # class 0's images have 5 of other classes
    with pytest.raises(BadOption, match="class 0 have only 5 of another class") as caught:
        check_mining(labels, 6)
    assert caught.value.option == "--neighbours"


def test_nearest_refuses_more_neighbours_than_images_of_other_classes():
    with pytest.raises(ValueError, match="fewer than 3 images of other classes"):
        nearest_other_class(np.zeros((4, 2)), [0, 1, 2, 0], [0], 3)


def test_features_must_fit_the_labels():
    with pytest.raises(ValueError, match="one feature row per label"):
        mine_pairs(np.zeros((3, 2)), [0, 1, 1, 0], 4)
    with pytest.raises(ValueError, match="hard_ratio"):
        mine_pairs(np.zeros((4, 2)), [0, 1, 1, 0], 4, hard_ratio=1.5, neighbours=1)
