"""data.builder.plan for mine: the mined rows take the place of build-db's train database, named
and counted as build-db would, and the manifest says how they were mined; no file."""

from pathlib import Path

import numpy as np

from caffesiam.data.builder.plan import (
    BuildRequest,
    draw_rows,
    manifest_extra,
    plan_mined,
    plan_sets,
)
from caffesiam.data.sources.imageset import ImageSet

MINING = {"weights": "w.caffemodel", "neighbours": 3, "hard_ratio": 1.0, "hard_negatives": 1}


def test_mined_rows_replace_the_sampled_ones_in_build_dbs_train_database():
    images = ImageSet(
        np.zeros((4, 1, 2, 2), np.uint8), np.array([0, 2, 2, 0]), "d.csv", list("abc")
    )
    request = BuildRequest("digits_mined", Path("/out"), ("train",), pairs=3, seed=4)
    rows = np.array([[0, 3, 1], [1, 0, 0], [2, 1, 1]])
    plan = plan_mined(plan_sets(request, {"train": images}), rows, MINING)
    (db,) = plan.databases
    assert db.target == Path("/out/digits_mined_siamese_train_leveldb")
    assert (db.records, db.seed) == (3, 4)
    assert draw_rows(request, db) is rows
    assert manifest_extra(request, db, rows) == {
        "source": "d.csv",
        "split": "train",
        "classes": ["a", "c"],  # the classes of the images mined, by name
        "seed": 4,
        "augment": None,
        "positive_ratio": 0.5,
        "mining": MINING,
        "skipped_images": 0,
        "per_class": {
            "a": {"images": 2, "positive_pairs": 1},
            "c": {"images": 2, "positive_pairs": 1},
        },
    }
