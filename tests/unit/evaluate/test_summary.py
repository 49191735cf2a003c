"""evaluate.summary: one line per measure, the dataset's lines only when it was measured."""

import numpy as np

from caffesiam.evaluate.metrics import verification_report
from caffesiam.evaluate.summary import format_report

RNG = np.random.default_rng(2)
SIMS = np.repeat([1, 0], 150)
DISTANCES = np.where(SIMS == 1, RNG.gamma(2, 0.2, 300), RNG.gamma(4, 0.3, 300))


def report(retrieval=None):
    found = verification_report(DISTANCES, SIMS, margin=1.0, seed=0, folds=10)
    found.update(blob="feat", feature_dims=2, retrieval=retrieval)
    return found


def test_kfold_and_tar_lines_of_the_pairs():
    r = report()
    lines = format_report(r).splitlines()
    kfold = r["kfold"]
    assert lines[4] == (
        f"accuracy over 10 folds (threshold fit on the other 9): {kfold['accuracy']:.2%} ± "
        f"{kfold['standard_error']:.2%} (standard error)"
    )
    tar = r["tar_at_far"][0]
    assert lines[-1] == (
        "true accept rate (same pairs called same) at a false accept rate of "
        f"0.01: {tar['tar']:.2%} (distance < {tar['threshold']:.3g}); "
        "0.001: n/a (needs 1,000 different pairs and a same one)"
    )
    assert len(lines) == 8 and "sim=1" in lines[0]


def test_the_dataset_adds_a_retrieval_line_and_a_one_shot_line():
    retrieval = {
        "source": "/usr/share/datasets/fashion-mnist",
        "split": "test",
        "class_names": ["Sandal", "Bag"],
        "images": 2000,
        "classes": 2,
        "queries": 2000,
        "precision_at_1": 0.9,
        "r_precision": 0.75,
        "map_at_r": 0.625,
        "one_shot": {"way": 2, "trials": 10000, "accuracy": 0.875, "chance": 0.5},
    }
    lines = format_report(report(retrieval=retrieval)).splitlines()
    assert lines[-2:] == [
        "retrieval among 2,000 images of 2 classes (2,000 queries; test of fashion-mnist): "
        "precision@1 90.00%, R-precision 75.00%, MAP@R 62.50%",
        "2-way one-shot accuracy: 87.50% over 10,000 trials (chance 50.0%)",
    ]
