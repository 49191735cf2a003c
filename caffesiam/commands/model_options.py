"""Options shared by evaluate and embed: the deploy net, its weights, the blob and the scaling."""

from pathlib import Path

import click

from caffesiam.commands.option_types import count, number
from caffesiam.commands.options import option_group
from caffesiam.spec.tower import INPUT_SCALE

_path = click.Path(dir_okay=False, path_type=Path)


def _model_files(required: bool):
    """--model and --weights: required for evaluate; for embed, --onnx may replace them."""
    return (
        click.option(
            "--model",
            type=_path,
            required=required,
            help="Deploy net with one Input layer (caffesiam gen-net SPEC --deploy).",
        ),
        click.option("--weights", type=_path, required=required, help="Trained .caffemodel."),
    )


_SETTINGS = (
    click.option(
        "--blob", default=None, help="Feature blob [default: the model's single output blob]."
    ),
    click.option(
        "--train-net",
        type=click.Path(exists=True, dir_okay=False, path_type=Path),
        help="The train_test net the weights were trained with: its transform_param "
        "(scale, mean_value) is applied to the pixels.",
    ),
    click.option(
        "--scale",
        type=number(min=0, min_open=True),
        default=None,
        help="Multiply uint8 pixels by this, as the Data layer's transform_param.scale "
        f"did in training [default: read from --train-net, else {INPUT_SCALE}].",
    ),
    click.option(
        "--batch-size",
        type=count(),
        default=256,
        show_default=True,
        help="Images per forward pass.",
    ),
)
model_options = option_group(*_model_files(True), *_SETTINGS)  # + --blob ... --batch-size
optional_model_options = option_group(*_model_files(False), *_SETTINGS)


def preprocessing(train_net, scale):
    """The Preprocess for --train-net or --scale (they exclude each other); default 1/256."""
    from caffesiam.evaluate.preprocess import Preprocess, preprocess_from_train_net

    if train_net and scale is not None:
        raise click.BadParameter("give --train-net or --scale, not both", param_hint="--scale")
    if train_net:
        return preprocess_from_train_net(train_net)
    if scale is not None:
        return Preprocess(scale, (), "--scale")
    return Preprocess(
        INPUT_SCALE, source="default; pass --train-net or --scale if training used another"
    )


def describe(prep) -> str:
    """One line: how pixels are scaled and why."""
    mean = f"(pixel - {list(prep.mean)}) x " if len(prep.mean) else "pixel x "
    return f"input: {mean}{prep.scale:g} ({prep.source})"


def load_tower(model, weights, blob, onnx, train_net, scale):
    """The feature net and its Preprocess: pycaffe's (--model, --weights) or onnxruntime's
    (--onnx, whose metadata gives the scaling unless --train-net or --scale do)."""
    if bool(onnx) == bool(model and weights) or (onnx and (model or weights or blob)):
        raise click.BadParameter(
            "give --model and --weights (pycaffe), or --onnx alone", param_hint="--onnx"
        )
    prep = preprocessing(train_net, scale)
    if not onnx:
        from caffesiam.evaluate.features import FeatureNet  # pycaffe's path

        return FeatureNet.load(model, weights, blob), prep
    from caffesiam.deploy.runtime import OnnxTower  # onnxruntime's: no Caffe needed

    tower = OnnxTower.load(onnx)
    return tower, (prep if train_net or scale is not None else tower.preprocess)
