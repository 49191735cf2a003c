import json
from pathlib import Path

import click


def _images_per_record(path: Path) -> int:
    """From the manifest build-db wrote next to the database; 2 (pairs) when there is none."""
    try:
        return int(json.loads(path.with_name(path.name + ".json").read_text())["images_per_record"])
    except (OSError, ValueError, KeyError, TypeError):
        return 2


@click.command("inspect-db")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--show", nargs=2, type=(click.IntRange(min=1), click.Path(path_type=Path)),
              default=None, metavar="K OUT.png", help="Write a grid of the first K pairs.")
def inspect_db(path, show):
    """Print a pair database's count, record shape, positive ratio (sim=1: same class) and keys."""
    from caffesiam import db

    summary = db.summarize_db(path)
    s = summary.shape
    images = _images_per_record(path)
    kind = "triplets (anchor, positive, negative)" if images == 3 else "pairs"
    click.echo(f"{path}: {summary.backend}, {summary.count} records")
    click.echo(f"record: {s.channels} channels x {s.height} x {s.width} "
               f"({kind} of {s.channels // images}-channel images)")
    if images == 2:
        click.echo(f"positives: {summary.positives} ({summary.positives / summary.count:.1%}, "
                   f"sim=1 means same class)")
    click.echo(f"first keys: {' '.join(summary.first_keys)}")
    if show:
        from caffesiam.plots import plot_pair_grid

        k, out = show
        images_a, images_b, labels = db.open_pairs(path, limit=k)
        click.echo(f"wrote {plot_pair_grid(images_a, images_b, labels, out)}")
