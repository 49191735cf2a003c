"""inspect-db: a pair database's count, record shape, positives and first keys (and a grid PNG)."""

from pathlib import Path

import click

from caffesiam.commands.option_types import OutputFile
from caffesiam.limits import SHOW_MAX


@click.command("inspect-db")
@click.argument("path", type=click.Path(path_type=Path))
@click.option(
    "--show",
    nargs=2,
    type=(click.IntRange(1, SHOW_MAX), OutputFile()),
    default=None,
    metavar="K OUT.png",
    help=f"Write a grid of the first K pairs (K <= {SHOW_MAX}).",
)
def inspect_db(path, show):
    """Print a pair database's count, record shape, positive ratio (sim=1: same class) and keys."""
    from caffesiam.data.read import images_per_record, open_pairs, summarize_db

    summary = summarize_db(path)
    s = summary.shape
    images = images_per_record(path)
    kind = "triplets (anchor, positive, negative)" if images == 3 else "pairs"
    click.echo(f"{path}: {summary.backend}, {summary.count} records")
    click.echo(
        f"record: {s.channels} channels x {s.height} x {s.width} "
        f"({kind} of {s.channels // images}-channel images)"
    )
    if images == 2:
        click.echo(
            f"positives: {summary.positives} ({summary.positives / summary.count:.1%}, "
            f"sim=1 means same class)"
        )
    click.echo(f"first keys: {' '.join(summary.first_keys)}")
    if show:
        from caffesiam.charts.pair_grid import plot_pair_grid
        from caffesiam.files import staged

        k, out = show
        images_a, images_b, labels = open_pairs(path, limit=k)
        with staged() as stage:
            plot_pair_grid(images_a, images_b, labels, stage(out))
        click.echo(f"wrote {out}")
