"""export: a deploy net and its .caffemodel -> an ONNX model of the tower, with its metadata."""

from pathlib import Path

import click

from caffesiam.commands.model_options import describe
from caffesiam.commands.option_types import OutputFile

_file = click.Path(exists=True, dir_okay=False, path_type=Path)


@click.command()
@click.argument("deploy", type=_file)
@click.argument("weights", type=_file)
@click.option("-o", "--output", type=OutputFile(), required=True, help="The .onnx file to write.")
@click.option(
    "--train-net",
    type=_file,
    help="The train_test net the weights were trained with: its transform_param (scale, "
    "mean_value) and its loss and margin go into the model's metadata.",
)
@click.option(
    "--evaluation",
    type=_file,
    help="A `caffesiam evaluate --json` report: its best threshold is stored, so that "
    "`caffesiam compare` can say same or different.",
)
@click.option("--blob", default=None, help="Feature blob [default: the net's single output].")
def export(deploy, weights, output, train_net, evaluation, blob):
    """Export the deploy net DEPLOY with WEIGHTS to ONNX (onnxruntime, OpenCV DNN, TensorRT).

    The model has a dynamic batch axis and gives the features that pycaffe gives; its metadata
    holds the input scale and mean, the feature blob, the loss and margin and the threshold.
    """
    from caffesiam.deploy.export import export_tower
    from caffesiam.evaluate.embedding import Preprocess

    done = export_tower(deploy, weights, output, train_net, evaluation, blob)
    meta = done.meta
    shape = "x".join(map(str, done.input_shape))
    click.echo(
        f"wrote {done.path}: input '{done.input_name}' N x {shape}, output '{meta.feature_blob}', "
        f"{done.nodes} ONNX nodes"
    )
    prep = Preprocess(meta.input_scale, meta.input_mean, meta.input_source)
    click.echo(describe(prep), err=True)
    if meta.threshold is not None:
        click.echo(
            f"threshold: same below distance {meta.threshold:.4g} (held-out accuracy "
            f"{meta.threshold_accuracy:.2%}, from {meta.threshold_source})",
            err=True,
        )
