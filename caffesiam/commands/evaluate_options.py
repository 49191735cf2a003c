"""evaluate's options besides the model, the database and the dataset: the measures and outputs."""

import click

from caffesiam.commands.option_types import OutputFile, count, number
from caffesiam.commands.options import option_group
from caffesiam.evaluate.metrics import FOLDS
from caffesiam.evaluate.retrieval import ONE_SHOT_TRIALS
from caffesiam.limits import MIN_PAIRS

evaluate_options = option_group(
    click.option(
        "--margin",
        type=number(min=0, min_open=True),
        default=None,
        help="ContrastiveLoss margin; accuracy is reported at distance margin/2 "
        "[default: --train-net's margin, else 1].",
    ),
    click.option(
        "--folds",
        type=click.IntRange(min=2),
        default=FOLDS,
        show_default=True,
        help="Folds of the k-fold accuracy: each fold scored at the threshold best on the "
        "others (at most one per pair).",
    ),
    click.option(
        "--way",
        type=click.IntRange(min=2),
        default=None,
        help="Classes in each one-shot trial, the query's among them [default: every class of "
        "the dataset's images].",
    ),
    click.option(
        "--trials",
        type=count(),
        default=None,
        help=f"One-shot trials [default: {ONE_SHOT_TRIALS:,}].",
    ),
    click.option(
        "--seed",
        type=click.IntRange(min=0),
        default=0,
        show_default=True,
        help="Seed of every random choice: the halves and folds of the pairs, the one-shot "
        "trials, the order of ties in retrieval.",
    ),
    click.option(
        "--limit",
        type=click.IntRange(min=MIN_PAIRS),
        default=None,
        help="Use only the first N pairs.",
    ),
    click.option("--json", "json_out", type=OutputFile(), help="Write every number here as JSON."),
    click.option(
        "--roc",
        "roc_out",
        type=OutputFile(),
        help="Write the ROC curve and the distance histograms here (PNG). With --json: both "
        "files are written, or neither.",
    ),
)
