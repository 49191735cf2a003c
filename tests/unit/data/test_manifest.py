"""data.manifest: the record beside each database, computed from its images and rows (pure)."""

from pathlib import Path

import numpy as np

from caffesiam import __version__
from caffesiam.data.manifest import describe, manifest_path_for, per_class
from caffesiam.data.sources.imageset import ImageSet


def test_the_manifest_sits_beside_its_database():
    assert manifest_path_for("out/db_lmdb") == Path("out/db_lmdb.json")


def test_a_pair_database_counts_positives_and_negatives():
    images = np.zeros((5, 3, 4, 6), np.uint8)
    rows = np.array([[0, 1, 1], [2, 3, 0], [4, 0, 0]])
    assert describe(images, rows, "lmdb", {"split": "test"}) == {
        "split": "test",
        "backend": "lmdb",
        "records": 3,
        "images_per_record": 2,
        "image_shape": [3, 4, 6],
        "record_shape": [6, 4, 6],
        "positives": 1,
        "negatives": 2,
        "label_convention": "sim=1 means the two images show the same class",
        "caffesiam_version": __version__,
    }


def test_a_triplet_database_has_no_positives():
    record = describe(np.zeros((3, 1, 2, 2), np.uint8), np.array([[0, 1, 2, 0]]), "leveldb", {})
    assert (record["images_per_record"], record["record_shape"]) == (3, [3, 2, 2])
    assert "positives" not in record and record["label_convention"].startswith("unused (0)")


def test_per_class_counts_images_and_positive_pairs_or_anchors():
    labels = np.array([0, 0, 1, 1, 1, 3])
    images = ImageSet(np.zeros((6, 1, 1, 1), np.uint8), labels, "s", ["a", "b", "c", "d"])
    pairs = np.array([[0, 1, 1], [2, 3, 1], [3, 4, 1], [0, 2, 0], [5, 0, 0]])
    assert per_class(images, pairs) == {
        "a": {"images": 2, "positive_pairs": 1},
        "b": {"images": 3, "positive_pairs": 2},
        "d": {"images": 1, "positive_pairs": 0},  # class 2 has no image, so no entry
    }
    triplets = np.array([[5, 5, 0, 0], [2, 3, 0, 0], [4, 2, 5, 0]])
    assert per_class(images, triplets)["b"] == {"images": 3, "anchors": 2}
