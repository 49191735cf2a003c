"""compare: are two images of the same class? The distance of their features in an ONNX tower."""

from pathlib import Path

import click

from caffesiam.commands.option_types import number

_image = click.Path(exists=True, dir_okay=False, path_type=Path)


@click.command()
@click.argument("image_a", type=_image)
@click.argument("image_b", type=_image)
@click.option(
    "--onnx",
    "model",
    type=_image,
    required=True,
    help="The tower that `caffesiam export` wrote.",
)
@click.option(
    "--threshold",
    type=number(min=0),
    default=None,
    help="Same when the distance is below this [default: the threshold stored at export].",
)
def compare(image_a, image_b, model, threshold):
    """The feature distance of IMAGE_A and IMAGE_B, and "same" or "different".

    Runs on onnxruntime alone: no Caffe is needed. Images are converted to the model's
    channels and resized to its input, then scaled as training scaled them.
    """
    from caffesiam.deploy.runtime import OnnxTower, compare

    tower = OnnxTower.load(model)
    if threshold is None and tower.meta.threshold is None:
        raise click.BadParameter(
            f"{model} stores no threshold (export it with --evaluation); give one",
            param_hint="--threshold",
        )
    verdict = compare(tower, image_a, image_b, threshold)
    answer = "same" if verdict.same else "different"
    click.echo(f"distance {verdict.distance:.4f}: {answer} (threshold {verdict.threshold:.4g})")
