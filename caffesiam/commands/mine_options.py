"""mine's options beside the model, the dataset and the output: the images, how pairs are drawn."""

import click

from caffesiam.commands.augment_options import augment_options
from caffesiam.commands.build_db_options import pairs_option, positive_ratio_option, seed_option
from caffesiam.commands.image_source import class_list_option, split_option
from caffesiam.commands.option_types import count, number
from caffesiam.commands.options import option_group

mining_options = option_group(
    split_option("train"),
    class_list_option(
        "--classes",
        "Only the images of these classes, as build-db's --train-classes names them (the "
        "train classes of a class-disjoint split) [default: every class].",
    ),
    click.option(
        "--neighbours",
        type=count(),
        default=10,
        show_default=True,
        help="K: each hard negative is one of its anchor's K nearest images of other classes, "
        "drawn uniformly (1: the nearest).",
    ),
    click.option(
        "--hard-ratio",
        type=number(0, 1),
        default=0.5,
        show_default=True,
        help="Share of the negatives (sim=0) drawn hard; the rest stay build-db's random ones "
        "(0: build-db's pairs exactly).",
    ),
    pairs_option,
    positive_ratio_option,
    seed_option,
    augment_options,
)
