"""Retrieval and one-shot classification over labelled embeddings, in numpy alone: no I/O.

Distances are Euclidean, as in the pair metrics. Every image is a query against all the others
(leave-one-out); a query whose class has no other image is left out, as pytorch-metric-learning's
AccuracyCalculator leaves it. Ties in distance are broken at random (seeded), so an embedding
that puts every image at one point scores chance, not the order of the images.
"""

import numpy as np

ONE_SHOT_TRIALS = 10_000
_CHUNK = 1 << 22  # elements of the largest temporary array


def retrieval_metrics(features, labels, seed: int = 0) -> dict:
    """precision@1, R-precision and MAP@R (Musgrave et al., "A Metric Learning Reality Check",
    2020) and the number of queries; the metrics are None when no class has two images.

    R is the number of other images of the query's class; R-precision is the share of its class
    among the R nearest; MAP@R averages, over those R ranks, the precision at each rank that
    holds its class.
    """
    x, labels = _shuffled(features, labels, seed)
    n = len(labels)
    _, inverse, counts = np.unique(labels, return_inverse=True, return_counts=True)
    others = counts[inverse] - 1  # R of each query
    squares = (x**2).sum(axis=1)
    sums = np.zeros(3)
    for r in np.unique(others[others > 0]):  # queries grouped by R: one shape per chunk
        group = np.flatnonzero(others == r)
        step = max(1, _CHUNK // n)
        for start in range(0, len(group), step):
            queries = group[start : start + step]
            d = squares[queries, None] + squares[None, :] - 2 * x[queries] @ x.T
            d[np.arange(len(queries)), queries] = np.inf  # not itself
            nearest = np.sort(np.argpartition(d, r - 1, axis=1)[:, :r], axis=1)
            ranks = np.argsort(np.take_along_axis(d, nearest, axis=1), axis=1, kind="stable")
            hits = labels[np.take_along_axis(nearest, ranks, axis=1)] == labels[queries, None]
            precision = np.cumsum(hits, axis=1) / np.arange(1, r + 1)
            sums += [hits[:, 0].sum(), hits.sum() / r, (precision * hits).sum() / r]
    queries = int((others > 0).sum())
    means = sums / queries if queries else [None] * 3
    return {
        "queries": queries,
        **{
            name: None if value is None else float(value)
            for name, value in zip(("precision_at_1", "r_precision", "map_at_r"), means)
        },
    }


def one_shot_accuracy(
    features, labels, way: int, trials: int = ONE_SHOT_TRIALS, seed: int = 0
) -> float:
    """Koch et al.'s N-way one-shot accuracy ("Siamese Neural Networks for One-shot Image
    Recognition", 2015): each trial draws a class with two images or more, a query image of it,
    `way` - 1 other classes, and one support image of each of the `way` classes (the query's
    another of its images). A trial is right when the nearest support shows the query's class;
    a tie among the nearest counts the query's share of it. ValueError when `way` does not fit.
    """
    x = np.asarray(features, dtype=np.float64).reshape(len(features), -1)
    classes, inverse, counts = np.unique(labels, return_inverse=True, return_counts=True)
    if way < 2:
        raise ValueError(f"a trial needs 2 classes or more, not {way}")
    if way > len(classes):
        raise ValueError(f"{way}-way trials need {way} classes; the images have {len(classes)}")
    queryable = np.flatnonzero(counts >= 2)
    if not len(queryable):
        raise ValueError("no class has two images: a query and its class's support")
    by_class = np.argsort(inverse, kind="stable")  # image indices, class after class
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    rng = np.random.default_rng(seed)
    correct = 0.0
    step = max(1, _CHUNK // (len(classes) + way * x.shape[1]))
    for start in range(0, trials, step):
        m = min(step, trials - start)
        query_class = queryable[rng.integers(0, len(queryable), m)]
        keys = rng.random((m, len(classes)))  # the other classes: the smallest random keys
        keys[np.arange(m), query_class] = np.inf
        other_classes = np.argpartition(keys, way - 2, axis=1)[:, : way - 1]
        first = rng.integers(0, counts[query_class])
        second = rng.integers(0, counts[query_class] - 1)
        second += second >= first  # another image of the query's class
        query = by_class[starts[query_class] + first]
        drawn = rng.integers(0, counts[other_classes])
        support = np.column_stack(
            [by_class[starts[query_class] + second], by_class[starts[other_classes] + drawn]]
        )  # column 0: the query's class
        d = ((x[support] - x[query][:, None, :]) ** 2).sum(axis=2)
        nearest = d == d.min(axis=1, keepdims=True)
        correct += (nearest[:, 0] / nearest.sum(axis=1)).sum()
    return correct / trials


def embedding_report(features, labels, way: int, trials: int, seed: int = 0) -> dict:
    """Retrieval metrics and the `way`-way one-shot accuracy of labelled features, JSON-ready."""
    return {
        "images": len(labels),
        "classes": len(np.unique(labels)),
        **retrieval_metrics(features, labels, seed),
        "one_shot": {
            "way": way,
            "trials": trials,
            "accuracy": one_shot_accuracy(features, labels, way, trials, seed),
            "chance": 1 / way,
        },
    }


def _shuffled(features, labels, seed):
    """float64 features and labels in a random order: the stable sorts then break ties at
    random."""
    order = np.random.default_rng(seed).permutation(len(labels))
    x = np.asarray(features, dtype=np.float64).reshape(len(labels), -1)
    return x[order], np.asarray(labels)[order]
