"""build-db's options, defined once for its subcommands: outputs, sampling, decoding, splits."""

from pathlib import Path

import click

from caffesiam.commands.augment_options import augment_options
from caffesiam.commands.image_source import class_list_option
from caffesiam.commands.option_types import NAME, OutputDir, checked_by, number
from caffesiam.commands.options import option_group
from caffesiam.data.backends import BACKENDS, DEFAULT_BACKEND
from caffesiam.data.builder.plan import SEED, TEST_FRACTION, parse_image_size

output_options = option_group(
    click.option(
        "--out",
        type=OutputDir(),
        default=Path("."),
        show_default=True,
        help="Directory that receives the databases and their .json manifests.",
    ),
    click.option(
        "--backend",
        type=click.Choice(BACKENDS),
        default=DEFAULT_BACKEND,
        show_default=True,
        help="Database format; Caffe's Data layer reads both.",
    ),
    click.option("--force", is_flag=True, help="Replace existing databases."),
)
pairs_option = click.option(
    "--pairs",
    type=click.IntRange(min=1),
    default=None,
    help="Pairs in the train database [default: one per train image].",
)
positive_ratio_option = click.option(
    "--positive-ratio",
    type=number(0, 1),
    default=0.5,
    show_default=True,
    help="Fraction of pairs with sim=1 (same class).",
)
seed_option = click.option(
    "--seed",
    type=click.IntRange(min=0),
    default=SEED,
    show_default=True,
    help="The same seed and inputs give a byte-identical database.",
)
sampling_options = option_group(
    pairs_option,
    click.option(
        "--test-pairs",
        type=click.IntRange(min=1),
        default=None,
        help="Pairs in the test database [default: one per test image].",
    ),
    click.option("--allow-self", is_flag=True, help="Allow pairs of an image with itself."),
    positive_ratio_option,
    click.option(
        "--caffe-compat",
        is_flag=True,
        help="Draw both images uniformly at random as Caffe's converter does "
        "(about 10% positives); ignores --positive-ratio.",
    ),
    seed_option,
    click.option(
        "--triplets",
        is_flag=True,
        help="Triplet databases for `gen-net --loss triplet`: 3 x C channels (anchor, "
        "positive of its class, negative of another), OUT/<name>_triplet_*; "
        "--pairs counts triplets.",
    ),
    augment_options,
)
test_fraction_option = click.option(
    "--test-fraction",
    type=number(0, 1, max_open=True),
    default=None,
    help="Fraction of images held out for the test database (split by image: none is in both) "
    f"[default: {TEST_FRACTION}; with class lists, the classes split].",
)
class_options = option_group(
    class_list_option(
        "--train-classes",
        "Only these classes in the train database: names, numbers or ranges such as 0-5 or "
        "0-4,7 (docs/commands.md) [default: the classes --test-classes leaves].",
    ),
    class_list_option(
        "--test-classes",
        "Only these classes, none of them a train class, in the test database: classes the "
        "net never sees in training [default: the classes --train-classes leaves].",
    ),
)
decode_options = option_group(
    click.option(
        "--size",
        callback=checked_by(parse_image_size),
        default=None,
        metavar="WxH",
        help="Resize every image to W x H pixels (required for mixed sizes).",
    ),
    click.option(
        "--gray/--rgb",
        default=True,
        show_default=True,
        help="1 channel per image, or 3 (RGB pairs have 6 channels).",
    ),
    click.option(
        "--strict", is_flag=True, help="Fail on an unreadable image instead of skipping it."
    ),
)
idx_options = option_group(
    click.option(
        "--split",
        type=click.Choice(["both", "train", "test"]),
        default="both",
        show_default=True,
        help="Which databases to build.",
    ),
    class_options,
    output_options,
    sampling_options,
)


def name_option(default: str):
    help = f"Database name prefix (a plain name) [default: {default}]."
    return click.option("--name", type=NAME, default=None, help=help)


def source_option(help: str):
    return click.option("--source", type=click.Path(file_okay=False, path_type=Path), help=help)
