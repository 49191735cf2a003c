import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from caffesiam.data.pairs import sample_pairs, split_by_image
from caffesiam.errors import DatasetError

# Label vectors with at least two classes and one class of two or more images.
trainable_labels = st.lists(st.integers(0, 6), min_size=3, max_size=60).filter(
    lambda ls: len(set(ls)) >= 2 and max(ls.count(v) for v in set(ls)) >= 2
)


@settings(max_examples=60, deadline=None)
@given(
    labels=trainable_labels,
    n=st.integers(1, 400),
    ratio=st.floats(0, 1),
    seed=st.integers(0, 2**32 - 1),
)
def test_plan_is_balanced_labelled_and_free_of_self_pairs(labels, n, ratio, seed):
    labels = np.array(labels)
    plan = sample_pairs(labels, n, ratio, seed)
    i, j, sim = plan.T
    assert plan.shape == (n, 3)
    assert (i != j).all()
    assert ((labels[i] == labels[j]) == (sim == 1)).all()  # sim=1 means same class
    assert sim.sum() == int(round(n * ratio))


@settings(max_examples=30, deadline=None)
@given(labels=trainable_labels, seed=st.integers(0, 1000))
def test_same_seed_same_plan_other_seed_other_plan(labels, seed):
    a = sample_pairs(labels, 200, seed=seed)
    assert np.array_equal(a, sample_pairs(labels, 200, seed=seed))
    assert not np.array_equal(a, sample_pairs(labels, 200, seed=seed + 1))


def test_plans_larger_than_one_chunk_keep_the_exact_ratio():
    labels = np.arange(1000) % 7
    plan = sample_pairs(labels, 150_001, positive_ratio=0.3, seed=3)
    assert plan[:, 2].sum() == round(150_001 * 0.3)
    assert (plan[:, 0] != plan[:, 1]).all()


def test_singleton_classes_take_part_in_negatives():
    labels = np.array([0, 0, 0, 1, 2])  # classes 1 and 2 have one image each
    plan = sample_pairs(labels, 2000, seed=1)
    negatives = plan[plan[:, 2] == 0]
    assert {3, 4} <= set(negatives[:, :2].ravel())
    positives = plan[plan[:, 2] == 1]
    assert set(positives[:, :2].ravel()) <= {0, 1, 2}


def test_caffe_compat_draws_uniformly_about_ten_percent_positive():
    labels = np.arange(10_000) % 10
    plan = sample_pairs(labels, 20_000, positive_ratio=0.9, seed=0, caffe_compat=True)
    assert 0.08 < plan[:, 2].mean() < 0.12
    assert (plan[:, 0] != plan[:, 1]).all()


def test_allow_self_lets_single_image_classes_pair_with_themselves():
    plan = sample_pairs([0, 1], 50, positive_ratio=1.0, allow_self=True)
    assert (plan[:, 0] == plan[:, 1]).all()


@pytest.mark.parametrize(
    "labels, needed", [([0, 0, 0], "negative"), ([0, 1, 2], "positive"), ([5], "at least 2")]
)
def test_untrainable_labels_raise_a_clear_error(labels, needed):
    with pytest.raises(DatasetError) as e:
        sample_pairs(labels, 10)
    assert needed in str(e.value)


def test_split_by_image_is_disjoint_and_complete():
    train, test = split_by_image(100, 0.25, seed=4)
    assert len(test) == 25
    assert set(train).isdisjoint(test)
    assert sorted(np.concatenate([train, test])) == list(range(100))
