"""evaluate: verification accuracy, ROC AUC and EER of a trained net on a pair database."""

import json
from pathlib import Path

import click

from caffesiam.commands.model_options import describe, model_options, preprocessing
from caffesiam.commands.option_types import OutputFile, number
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
@click.option(
    "--margin",
    type=number(min=0, min_open=True),
    default=None,
    help="ContrastiveLoss margin; accuracy is reported at distance margin/2 "
    "[default: --train-net's margin, else 1].",
)
@click.option(
    "--seed",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Seed of the split into the two halves used for the best threshold.",
)
@click.option(
    "--limit", type=click.IntRange(min=MIN_PAIRS), default=None, help="Use only the first N pairs."
)
@click.option("--json", "json_out", type=OutputFile(), help="Write every number here as JSON.")
@click.option(
    "--roc",
    "roc_out",
    type=OutputFile(),
    help="Write the ROC curve and the distance histograms here (PNG). With --json: both "
    "files are written, or neither.",
)
def evaluate(
    model,
    weights,
    blob,
    train_net,
    scale,
    batch_size,
    db_path,
    margin,
    seed,
    limit,
    json_out,
    roc_out,
):
    """Verification accuracy of a trained siamese net on a pair database.

    A pair is called "same" when the Euclidean distance of its two features is below a
    threshold; labels follow Caffe: sim=1 means same class. Reports accuracy at margin/2,
    accuracy at the best threshold (chosen on one half of the pairs, scored on the other),
    ROC AUC, the equal error rate, the positive ratio and the counts.
    """
    from caffesiam.evaluate import features as ev
    from caffesiam.evaluate.metrics import roc_curve, verification_report
    from caffesiam.evaluate.preprocess import margin_from_train_net

    prep = preprocessing(train_net, scale)
    if margin is None:
        margin = (margin_from_train_net(train_net) if train_net else None) or 1.0
    net = ev.FeatureNet.load(model, weights, blob)
    images_a, images_b, sims = ev.load_pairs(db_path, net.input_shape, limit, MIN_PAIRS)
    with progress_bar(2 * len(sims), "features") as advance:
        pairs = ev.pair_features(net, images_a, images_b, sims, prep, batch_size, advance)
    report = verification_report(pairs.distances, sims, margin, seed)
    report.update(
        model=str(model),
        weights=str(weights),
        db=str(db_path),
        blob=net.blob,
        scale=prep.scale,
        mean=list(prep.mean),
        feature_dims=int(pairs.features_a.shape[1]),
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


def format_report(r: dict) -> str:
    """The short human-readable report."""

    def pct(value):
        return "n/a (needs both same and different pairs)" if value is None else f"{value:.2%}"

    lines = [
        f"pairs: {r['pairs']} ({r['positives']} same, sim=1; {r['negatives']} different, sim=0; "
        f"positive ratio {r['positive_ratio']:.1%}; always guessing the majority: "
        f"{r['chance_accuracy']:.1%})",
        f"features: blob '{r['blob']}', {r['feature_dims']}-D; mean distance same "
        f"{_num(r['mean_distance_same'])}, different {_num(r['mean_distance_different'])}",
        f"accuracy at distance < margin/2 = {r['threshold_half_margin']:g}: "
        f"{pct(r['accuracy_half_margin'])}",
        f"accuracy at the best threshold (held out): {pct(r['best_threshold_accuracy'])} "
        f"(thresholds {', '.join(f'{t:.3g}' for t in r['best_threshold_folds'])} chosen on each "
        f"half, scored on the other; on all pairs: {r['best_threshold_all_pairs']:.3g})",
        f"ROC AUC: {'n/a' if r['auc'] is None else format(r['auc'], '.4f')}",
        f"equal error rate: {pct(r['eer'])}"
        + ("" if r["eer_threshold"] is None else f" (at distance {r['eer_threshold']:.3g})"),
    ]
    return "\n".join(lines)


def _num(value) -> str:
    return "n/a" if value is None else f"{value:.3g}"
