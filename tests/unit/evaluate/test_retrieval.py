"""Retrieval metrics against pytorch-metric-learning's AccuracyCalculator and by hand; N-way
one-shot accuracy on cases whose answer is known."""

import numpy as np
import pytest

from caffesiam.evaluate.retrieval import embedding_report, one_shot_accuracy, retrieval_metrics

PML_NAMES = {
    "precision_at_1": "precision_at_1",
    "r_precision": "r_precision",
    "map_at_r": "mean_average_precision_at_r",
}


def clusters(n_per_class, dims, spread, seed):
    """Gaussian clusters, one per class, that overlap enough for every metric to lie inside
    (0, 1); labels in a shuffled order."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(len(n_per_class)), n_per_class)
    centres = rng.normal(size=(len(n_per_class), dims))
    features = centres[labels] + spread * rng.normal(size=(len(labels), dims))
    order = rng.permutation(len(labels))
    return features[order].astype(np.float32), labels[order]


def pml_metrics(features, labels):
    """AccuracyCalculator on the same embeddings: Euclidean (LpDistance, not normalised), every
    embedding a query against all the others."""
    torch = pytest.importorskip("torch", reason="the metric-test extra (torch, CPU) is missing")
    pml = pytest.importorskip(
        "pytorch_metric_learning", reason="the metric-test extra (pytorch-metric-learning)"
    )
    from pytorch_metric_learning.distances import LpDistance
    from pytorch_metric_learning.utils.accuracy_calculator import AccuracyCalculator
    from pytorch_metric_learning.utils.inference import CustomKNN

    assert pml.__version__
    calculator = AccuracyCalculator(
        include=tuple(PML_NAMES.values()),
        knn_func=CustomKNN(LpDistance(normalize_embeddings=False)),
        device=torch.device("cpu"),
    )
    found = calculator.get_accuracy(torch.from_numpy(features), torch.from_numpy(labels))
    return {ours: found[theirs] for ours, theirs in PML_NAMES.items()}


@pytest.mark.parametrize(
    "n_per_class, dims, spread, seed",
    [
        ([40] * 6, 8, 0.6, 0),
        ([5, 60, 17, 1, 33, 2, 90], 16, 0.9, 1),  # unequal classes, one of a single image
        ([30] * 12, 2, 0.4, 2),
    ],
)
def test_retrieval_metrics_agree_with_pytorch_metric_learning(n_per_class, dims, spread, seed):
    features, labels = clusters(n_per_class, dims, spread, seed)
    expected = pml_metrics(features, labels)
    ours = retrieval_metrics(features, labels, seed=seed)
    assert {name: ours[name] for name in PML_NAMES} == pytest.approx(expected, abs=1e-6)
    assert all(0.05 < value < 0.98 for value in expected.values()), expected
    assert ours["queries"] == len(labels) - sum(n == 1 for n in n_per_class)


def test_retrieval_metrics_by_hand():
    # on a line: a at 0, 1, 5 and 3.4; b at 2.2 and 6; c at 9 alone (a reference, never a query)
    positions = np.array([0, 1, 5, 3.4, 2.2, 6, 9])
    labels = np.array(["a", "a", "a", "a", "b", "b", "c"])
    # query: its neighbours' classes nearest first, within R  ->  P@1, R-precision, AP@R
    # 0   (R=3): a(1) b(2.2) a(3.4)  ->  1, 2/3, (1 + 2/3) / 3
    # 1   (R=3): a(0) b(2.2) a(3.4)  ->  1, 2/3, (1 + 2/3) / 3
    # 5   (R=3): b(6) a(3.4) b(2.2)  ->  0, 1/3, (1/2) / 3
    # 3.4 (R=3): b(2.2) a(1) a(5)    ->  0, 2/3, (1/2 + 2/3) / 3
    # 2.2 (R=1): a(1)                ->  0, 0, 0
    # 6   (R=1): a(5)                ->  0, 0, 0
    found = retrieval_metrics(positions[:, None], labels)
    assert found == pytest.approx(
        {
            "queries": 6,
            "precision_at_1": 2 / 6,
            "r_precision": (2 / 3 + 2 / 3 + 1 / 3 + 2 / 3) / 6,
            "map_at_r": ((5 / 3) / 3 * 2 + (1 / 2) / 3 + (7 / 6) / 3) / 6,
        }
    )


def test_an_embedding_collapsed_to_one_point_scores_chance_not_the_order_of_the_images():
    labels = np.repeat(np.arange(10), 20)  # sorted by class: ties in that order would score 1
    found = retrieval_metrics(np.zeros((200, 4)), labels)
    chance = 19 / 199
    assert abs(found["precision_at_1"] - chance) < 0.08
    assert abs(found["r_precision"] - chance) < 0.03
    assert found != retrieval_metrics(np.zeros((200, 4)), labels, seed=1)  # ties drawn by seed


def test_retrieval_without_a_class_of_two_images_has_no_metrics():
    assert retrieval_metrics(np.eye(3), [0, 1, 2]) == {
        "queries": 0,
        "precision_at_1": None,
        "r_precision": None,
        "map_at_r": None,
    }


def test_retrieval_in_chunks_is_the_same(monkeypatch):
    features, labels = clusters([25] * 8, 4, 0.7, 3)
    whole = retrieval_metrics(features, labels)
    monkeypatch.setattr("caffesiam.evaluate.retrieval._CHUNK", 7)
    assert retrieval_metrics(features, labels) == pytest.approx(whole, abs=1e-12)


# one-shot: class 0 at 0 and 1, class 1 at 10 and 11, class 2 alone at 0.4 (never a query)
LINE = np.array([[0.0], [1.0], [10.0], [11.0], [0.4]])
LINE_LABELS = np.array([0, 0, 1, 1, 2])


def test_one_shot_with_every_class_in_each_trial():
    # a class-0 query meets class 2 (0.4 or 0.6 away) before its own other image (1 away): wrong;
    # a class-1 query's own other image (1 away) is nearest: right. Queries: half of each class.
    accuracy = one_shot_accuracy(LINE, LINE_LABELS, way=3)
    assert accuracy == pytest.approx(0.5, abs=0.02)  # 10,000 trials: standard error 0.005


def test_one_shot_two_way():
    # class-0 query: against class 1 right, against class 2 wrong; class-1 query: always right
    accuracy = one_shot_accuracy(LINE, LINE_LABELS, way=2, trials=20_000, seed=3)
    assert accuracy == pytest.approx(0.5 * 0.5 + 0.5 * 1.0, abs=0.015)


@pytest.mark.parametrize("way", [2, 3, 5, 8])
def test_one_shot_of_separate_classes_is_right_and_of_one_point_is_chance_exactly(way):
    labels = np.repeat(np.arange(8), 4)
    separate = np.eye(8)[labels] * 10 + np.random.default_rng(0).normal(size=(32, 8)) * 0.1
    assert one_shot_accuracy(separate, labels, way, trials=500) == 1.0
    assert one_shot_accuracy(np.zeros((32, 3)), labels, way, trials=500) == pytest.approx(1 / way)


def test_one_shot_is_seeded_and_chunked_alike(monkeypatch):
    features, labels = clusters([12] * 6, 3, 1.0, 4)
    first = one_shot_accuracy(features, labels, 4, trials=3000, seed=5)
    assert first == one_shot_accuracy(features, labels, 4, trials=3000, seed=5)
    assert first != one_shot_accuracy(features, labels, 4, trials=3000, seed=6)
    monkeypatch.setattr("caffesiam.evaluate.retrieval._CHUNK", 50)
    assert one_shot_accuracy(features, labels, 4, trials=3000, seed=5) != first  # other draws
    assert 0.3 < one_shot_accuracy(features, labels, 4, trials=3000, seed=5) < 1


@pytest.mark.parametrize(
    "labels, way, message",
    [
        ([0, 0, 1, 1], 3, "3-way trials need 3 classes; the images have 2"),
        ([0, 0, 1, 1], 1, "a trial needs 2 classes or more, not 1"),
        ([0, 1, 2], 2, "no class has two images"),
    ],
)
def test_one_shot_refuses_a_way_that_does_not_fit(labels, way, message):
    with pytest.raises(ValueError, match=message):
        one_shot_accuracy(np.zeros((len(labels), 2)), np.array(labels), way)


def test_the_embedding_report_holds_both():
    features, labels = clusters([10] * 3, 2, 0.5, 5)
    report = embedding_report(features, labels, way=3, trials=100)
    assert (report["images"], report["classes"], report["queries"]) == (30, 3, 30)
    assert report["one_shot"]["way"] == 3 and report["one_shot"]["chance"] == pytest.approx(1 / 3)
    assert report["precision_at_1"] == retrieval_metrics(features, labels)["precision_at_1"]
