"""evaluate: a trained net's pair verification (accuracy, k-fold, ROC AUC, EER, TAR at FAR) on a
pair database, and its retrieval and one-shot accuracy on labelled images."""

import json
from pathlib import Path

import click
import numpy as np

from caffesiam.commands.evaluate_options import evaluate_options
from caffesiam.commands.image_source import (
    load_images,
    one_source,
    selection_options,
    source_options,
)
from caffesiam.commands.model_options import describe, model_options, preprocessing
from caffesiam.commands.progress import progress_bar
from caffesiam.files import staged
from caffesiam.limits import MIN_PAIRS


@click.command()
@model_options
@click.option(
    "--db",
    "db_path",
    type=click.Path(path_type=Path),
    required=True,
    help="Pair database (LevelDB or LMDB, as build-db writes), read only.",
)
@source_options
@selection_options
@evaluate_options
def evaluate(
    model,
    weights,
    blob,
    train_net,
    scale,
    batch_size,
    db_path,
    split,
    classes,
    margin,
    folds,
    way,
    trials,
    seed,
    limit,
    json_out,
    roc_out,
    **sources,
):
    """Verification accuracy of a trained siamese net on a pair database; given a dataset
    (--mnist, --fashion-mnist, --digits or --images), retrieval and one-shot accuracy too.

    A pair is "same" when the Euclidean distance of its features is below a threshold; labels
    follow Caffe: sim=1 means same class. Reports accuracy at margin/2 and at the best threshold
    (held out), k-fold accuracy, ROC AUC, equal error rate, true accept rates at false accept
    rates 1e-2 and 1e-3; on the dataset's images precision@1, R-precision, MAP@R and N-way
    one-shot accuracy (docs/metric-learning.md).
    """
    from caffesiam.evaluate import features as ev
    from caffesiam.evaluate.metrics import roc_curve, verification_report
    from caffesiam.evaluate.preprocess import margin_from_train_net
    from caffesiam.evaluate.summary import format_report

    dataset = _dataset_flag(sources, classes=classes, way=way, trials=trials)
    prep = preprocessing(train_net, scale)
    if margin is None:
        margin = (margin_from_train_net(train_net) if train_net else None) or 1.0
    net = ev.FeatureNet.load(model, weights, blob)
    images_a, images_b, sims = ev.load_pairs(db_path, net.input_shape, limit, MIN_PAIRS)
    labelled = load_images(sources, split, classes, net.input_shape) if dataset else None
    split = "all" if dataset == "images" else split  # a folder is read whole
    if labelled:
        net.check_images(labelled.images.shape[1:], labelled.source)
        way = _one_shot_way(way, labelled.labels)
    n_images = 2 * len(sims) + (len(labelled.labels) if labelled else 0)
    with progress_bar(n_images, "features") as advance:
        pairs = ev.pair_features(net, images_a, images_b, sims, prep, batch_size, advance)
        embedded = net.features(labelled.images, prep, batch_size, advance) if labelled else None
    report = verification_report(pairs.distances, sims, margin, seed, folds)
    report.update(
        model=str(model),
        weights=str(weights),
        db=str(db_path),
        blob=net.blob,
        scale=prep.scale,
        mean=list(prep.mean),
        feature_dims=int(pairs.features_a.shape[1]),
        retrieval=_retrieval(labelled, embedded, split, way, trials, seed) if labelled else None,
    )
    click.echo(format_report(report))
    with staged() as stage:
        if json_out:
            stage(json_out).write_text(json.dumps(report, indent=2) + "\n")
        if roc_out and report["auc"] is not None:
            from caffesiam.charts.roc import plot_roc

            fpr, tpr, _ = roc_curve(pairs.distances, sims)
            title = f"{Path(weights).name} on {Path(db_path).name}"
            plot_roc(fpr, tpr, pairs.distances, sims, report, stage(roc_out), title)
    for written in stage.targets:
        click.echo(f"wrote {written}")
    click.echo(describe(prep), err=True)
    if roc_out and report["auc"] is None:
        click.echo("no ROC curve: it needs both same and different pairs", err=True)


def _dataset_flag(sources: dict, **needing_one) -> str | None:
    """The one dataset flag given, or None; BadParameter for several, or for an option that
    applies to a dataset given without one."""
    given = one_source(sources, required=False)
    for name, value in needing_one.items():
        if value is not None and not given:
            add = "add --mnist, --fashion-mnist, --digits or --images"
            hint = f"--{name}"
            raise click.BadParameter(f"measures the images of a dataset: {add}", param_hint=hint)
    return given


def _one_shot_way(way, labels) -> int:
    """--way, by default every class of the images; BadParameter when the images cannot make
    such trials."""
    counts = np.unique(labels, return_counts=True)[1]
    if len(counts) < 2 or counts.max() < 2:
        raise click.BadParameter(
            "the images must show 2 classes or more, one of them in 2 images or more",
            param_hint="--classes",
        )
    if way is not None and way > len(counts):
        raise click.BadParameter(f"the images show only {len(counts)} classes", param_hint="--way")
    return way or len(counts)


def _retrieval(labelled, features, split, way, trials, seed) -> dict:
    """The dataset's part of the report: what was measured, then the measures."""
    from caffesiam.evaluate.retrieval import ONE_SHOT_TRIALS, embedding_report

    present = np.unique(labelled.labels).tolist()
    return {
        "source": labelled.source,
        "split": split,
        "class_names": [labelled.class_name(c) for c in present],
        **embedding_report(features, labelled.labels, way, trials or ONE_SHOT_TRIALS, seed),
    }
