"""--augment and --jitter, for the commands that write train pair databases: build-db and mine."""

import click

from caffesiam.commands.option_types import checked_by
from caffesiam.commands.options import option_group
from caffesiam.data.augment import parse_jitter

augment_options = option_group(
    click.option(
        "--augment",
        is_flag=True,
        help="Train database only: every image of every record gets its own random "
        "shift, rotation and scaling (seeded), so few images give many distinct "
        "pairs. The test database is never augmented.",
    ),
    click.option(
        "--jitter",
        callback=checked_by(parse_jitter),
        default=None,
        metavar="SPEC",
        help="--augment's uniform ranges: shift in pixels, rotation in degrees, "
        "scale as a fraction [default: shift=2,rotate=10,scale=0.1].",
    ),
)
