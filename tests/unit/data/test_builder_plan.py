"""data.builder.plan: option conflicts, names, record counts, seeds and manifests; no file."""

from pathlib import Path

import numpy as np
import pytest

from caffesiam.data.augment import Jitter
from caffesiam.data.builder.plan import (
    ALL,
    BuildRequest,
    db_path,
    derived_name,
    draw_rows,
    manifest_extra,
    plan_pair_list,
    plan_sets,
    split_images,
)
from caffesiam.data.classes import parse_class_list
from caffesiam.data.pairs import sample_pairs, sample_triplets
from caffesiam.data.sources.imageset import ImageSet
from caffesiam.errors import BadInput, BadOption

OUT = Path("/out")


def image_set(labels, source="src", skipped=0) -> ImageSet:
    """Images whose single pixel is their index, so a subset shows which images it kept."""
    n = len(labels)
    images = np.arange(n, dtype=np.uint8).reshape(n, 1, 1, 1)
    names = ["cat", "dog", "eel"]
    return ImageSet(images, np.asarray(labels, dtype=np.int64), source, names, skipped)


@pytest.mark.parametrize(
    "options, option, reason",
    [
        (dict(triplets=True, caffe_compat=True), "--caffe-compat", "does not apply to --triplets"),
        (dict(triplets=True, allow_self=True), "--allow-self", "does not apply to --triplets"),
        (dict(jitter=Jitter(1, 0, 0)), "--jitter", "sets --augment's ranges; add --augment"),
        (
            dict(augment=True, splits=("test",)),
            "--augment",
            "augments the train database only; none is built",
        ),
    ],
)
def test_contradictory_options_are_refused_naming_the_option(options, option, reason):
    with pytest.raises(BadOption) as caught:
        BuildRequest("p", OUT, **options)
    assert (caught.value.option, caught.value.reason) == (option, reason)
    assert caught.value.exit_code == 2
    assert str(caught.value) == f"{option}: {reason}"


def test_options_that_fit_together_make_a_request():
    request = BuildRequest("p", OUT, augment=True, jitter=Jitter(1, 2, 0.1), caffe_compat=True)
    assert request.jitter == Jitter(1, 2, 0.1)


@pytest.mark.parametrize(
    "split, triplets, backend, name",
    [
        ("train", False, "leveldb", "mnist_siamese_train_leveldb"),
        ("test", False, "lmdb", "mnist_siamese_test_lmdb"),
        ("train", True, "lmdb", "mnist_triplet_train_lmdb"),
        (ALL, False, "leveldb", "mnist_siamese_leveldb"),
    ],
)
def test_database_names(split, triplets, backend, name):
    assert db_path(OUT, "mnist", backend, split, triplets) == OUT / name
    request = BuildRequest("mnist", OUT, backend=backend, triplets=triplets)
    assert request.target(split) == OUT / name


def test_targets_follow_the_splits_asked():
    request = BuildRequest("d", OUT, splits=("test",), backend="lmdb")
    assert request.targets == [OUT / "d_siamese_test_lmdb"]


def test_derived_name_is_a_plain_name_or_asks_for_name():
    assert derived_name("pets.v2", "ROOT's folder name") == "pets.v2"
    with pytest.raises(BadOption) as caught:
        derived_name("my photos", "ROOT's folder name")
    assert caught.value.option == "--name"
    assert caught.value.reason.startswith("ROOT's folder name 'my photos' is not a plain name")
    assert caught.value.reason.endswith("; pass --name")


def test_split_images_is_disjoint_seeded_and_sized_by_the_fraction():
    source = image_set([0, 1, 2] * 10)
    sets = split_images(source, 0.2, seed=3)
    train, test = sets["train"].images.ravel(), sets["test"].images.ravel()
    assert (len(train), len(test)) == (24, 6)
    assert sorted(np.concatenate([train, test])) == list(range(30))
    assert np.array_equal(sets["train"].labels, source.labels[train])
    again = split_images(source, 0.2, seed=3)
    assert np.array_equal(again["test"].images, sets["test"].images)
    assert not np.array_equal(split_images(source, 0.2, seed=4)["test"].images, sets["test"].images)


def test_split_images_defaults_are_build_db_digits_defaults():
    """embed --digits relies on these: 20% held out with seed 0."""
    source = image_set([0, 1] * 50)
    assert np.array_equal(
        split_images(source)["test"].images, split_images(source, 0.2, 0)["test"].images
    )
    assert len(split_images(source)["test"].labels) == 20


def test_plan_sets_counts_seeds_and_jitter():
    sets = {"train": image_set([0, 1, 2] * 4), "test": image_set([0, 1, 2])}
    request = BuildRequest("p", OUT, test_pairs=7, seed=10, augment=True)
    plan = plan_sets(request, sets)
    train, test = plan.databases
    assert (train.split, train.records, train.seed) == ("train", 12, 10)  # one per image
    assert (test.split, test.records, test.seed) == ("test", 7, 11)
    assert (train.target, test.target) == (OUT / "p_siamese_train_leveldb", request.target("test"))
    assert train.jitter == Jitter() and test.jitter is None
    assert plan.records == 19 and plan.images_per_record == 2
    assert plan.asked == "--pairs 12 and --test-pairs 7"


def test_a_test_split_alone_takes_the_first_seed():
    request = BuildRequest("p", OUT, splits=("test",), test_pairs=1500, seed=5, triplets=True)
    plan = plan_sets(request, {"test": image_set([0, 1])})
    assert [db.seed for db in plan.databases] == [5]
    assert plan.asked == "--test-pairs 1,500" and plan.images_per_record == 3


def test_draw_rows_samples_as_the_request_says():
    labels = [0, 1, 2] * 20
    sets = {"train": image_set(labels), "test": image_set(labels)}
    pairs = plan_sets(BuildRequest("p", OUT, pairs=50, positive_ratio=0.3, seed=4), sets)
    rows = draw_rows(pairs.request, pairs.databases[1])
    assert np.array_equal(rows, sample_pairs(labels, 60, 0.3, 5))
    assert rows[:, 2].sum() == 18
    compat = BuildRequest("p", OUT, caffe_compat=True, allow_self=True)
    rows = draw_rows(compat, plan_sets(compat, sets).databases[0])
    assert np.array_equal(rows, sample_pairs(labels, 60, 0.5, 0, True, True))
    triplets = BuildRequest("p", OUT, pairs=9, triplets=True)
    rows = draw_rows(triplets, plan_sets(triplets, sets).databases[0])
    assert np.array_equal(rows, sample_triplets(labels, 9, 0))


def test_a_pair_list_keeps_its_rows():
    rows = np.array([[0, 1, 1], [1, 2, 0]])
    request = BuildRequest("list", OUT, splits=(ALL,))
    plan = plan_pair_list(request, image_set([-1, -1, -1], "list.txt"), rows)
    (db,) = plan.databases
    assert db.target == OUT / "list_siamese_leveldb" and db.records == 2
    assert draw_rows(request, db) is rows
    assert plan.asked == "the list's pairs"
    assert manifest_extra(request, db, rows) == {"source": "list.txt", "split": "all"}


def test_manifest_extra_describes_sampling_and_classes():
    images = image_set([0, 0, 1, 2], "digits.csv", skipped=3)
    request = BuildRequest("p", OUT, seed=2, positive_ratio=0.25, augment=True)
    train = plan_sets(request, {"train": images}).databases[0]
    rows = np.array([[0, 1, 1], [2, 3, 0], [1, 0, 1]])
    assert manifest_extra(request, train, rows) == {
        "source": "digits.csv",
        "split": "train",
        "train_classes": None,  # split by image
        "test_classes": None,
        "seed": 2,
        "augment": {"max_shift_px": 2.0, "max_rotate_deg": 10.0, "max_scale": 0.1},
        "positive_ratio": 0.25,
        "caffe_compat": False,
        "skipped_images": 3,
        "per_class": {
            "cat": {"images": 2, "positive_pairs": 2},
            "dog": {"images": 1, "positive_pairs": 0},
            "eel": {"images": 1, "positive_pairs": 0},
        },
    }


def test_manifest_extra_records_the_classes_of_both_databases():
    lists = dict(train_classes=parse_class_list("eel"), test_classes=parse_class_list("0"))
    request = BuildRequest("p", OUT, **lists)
    db = plan_sets(request, {"test": image_set([0, 0])}).databases[0]
    extra = manifest_extra(request, db, np.array([[0, 1, 1]]))
    assert (extra["train_classes"], extra["test_classes"]) == (["eel"], ["cat"])
    alone = BuildRequest("p", OUT, test_classes=parse_class_list("dog"))
    extra = manifest_extra(alone, db, np.array([[0, 1, 1]]))
    assert (extra["train_classes"], extra["test_classes"]) == (["cat", "eel"], ["dog"])


@pytest.mark.parametrize("options", [dict(caffe_compat=True), dict(triplets=True)])
def test_no_positive_ratio_is_recorded_when_it_was_not_used(options):
    request = BuildRequest("p", OUT, **options)
    db = plan_sets(request, {"train": image_set([0, 1])}).databases[0]
    rows = np.zeros((1, 4 if request.triplets else 3), dtype=np.int64)
    assert manifest_extra(request, db, rows)["positive_ratio"] is None


def test_bad_option_is_bad_input():
    assert issubclass(BadOption, BadInput)
