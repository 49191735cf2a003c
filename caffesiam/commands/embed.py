"""embed: features of a dataset or a pair database from a trained tower -> .npz (and a plot)."""

from pathlib import Path

import click

from caffesiam.commands.image_source import (
    load_images,
    one_source,
    selection_options,
    source_options,
)
from caffesiam.commands.model_options import (
    describe,
    load_tower,
    optional_model_options,
)
from caffesiam.commands.option_types import OutputFile
from caffesiam.commands.progress import progress_bar
from caffesiam.evaluate.embedding import save_npz
from caffesiam.files import check_output, staged


@click.command()
@optional_model_options
@click.option(
    "--onnx",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A tower that caffesiam export wrote, run by onnxruntime: no Caffe needed. "
    "Replaces --model and --weights; its metadata gives the scaling.",
)
@source_options
@click.option(
    "--db",
    "db_path",
    type=click.Path(path_type=Path),
    help="Pair database: features of both images of each pair, sims and distances.",
)
@selection_options
@click.option(
    "--limit", type=click.IntRange(min=1), default=None, help="Use only the first N images (pairs)."
)
@click.option(
    "-o",
    "--output",
    type=OutputFile(),
    required=True,
    help="Output .npz (the suffix is added when missing): features and labels "
    "(class_names), or for --db features_a, features_b, sims (1 = same class) and "
    "distances.",
)
@click.option(
    "--plot",
    type=OutputFile(),
    help="Scatter of the embedding coloured by class (PCA when more than 2-D), PNG. "
    "Both files are written, or neither.",
)
def embed(
    model,
    weights,
    onnx,
    blob,
    train_net,
    scale,
    batch_size,
    split,
    classes,
    limit,
    output,
    plot,
    **sources,
):
    """Features of a dataset from a trained deploy net, saved as .npz (and plotted)."""
    one_source(sources, required=True, hint="source")
    db_path = sources["db_path"]
    if plot and db_path:
        raise click.BadParameter(
            "pairs have no classes to colour by; --plot needs an image source", param_hint="--plot"
        )
    if output.suffix != ".npz":
        output = check_output(output.with_name(output.name + ".npz"))
    net, prep = load_tower(model, weights, blob, onnx, train_net, scale)
    if db_path:
        from caffesiam.evaluate.features import load_pairs, pair_features  # the database code

        a, b, sims = load_pairs(db_path, net.input_shape, limit)
        with progress_bar(2 * len(sims), "features") as advance:
            pairs = pair_features(net, a, b, sims, prep, batch_size, advance)
        with staged() as stage:
            save_npz(
                stage(output),
                features_a=pairs.features_a,
                features_b=pairs.features_b,
                sims=sims,
                distances=pairs.distances,
            )
        click.echo(f"wrote {output}: {len(sims)} pairs, {pairs.features_a.shape[1]}-D features")
        click.echo(describe(prep), err=True)
        return
    source = load_images(sources, split, classes, net.input_shape)
    if limit:
        source = source.subset(slice(0, limit))
    net.check_images(source.images.shape[1:], source.source)
    with progress_bar(len(source.labels), "features") as advance:
        features = net.features(source.images, prep, batch_size, advance)
    with staged() as stage:
        save_npz(
            stage(output),
            features=features,
            labels=source.labels,
            class_names=[source.class_name(c) for c in range(int(source.labels.max()) + 1)],
        )
        if plot:
            from caffesiam.charts.embedding import plot_embedding  # matplotlib: only for --plot

            title = (
                f"{Path(weights or onnx).name}: {Path(source.source).name} "
                f"({len(source.labels)} images)"
            )
            plot_embedding(features, source.labels, source.class_names, stage(plot), title)
    click.echo(f"wrote {output}: {len(features)} images, {features.shape[1]}-D features")
    if plot:
        click.echo(f"wrote {plot}")
    click.echo(describe(prep), err=True)
