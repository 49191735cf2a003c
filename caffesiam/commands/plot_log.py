"""plot-log: loss curves and metrics.csv from any saved Caffe training log."""

from pathlib import Path

import click

from caffesiam.draw.plots import plot_loss_curve
from caffesiam.errors import BadInput
from caffesiam.train.log import parse_lines
from caffesiam.train.metrics_csv import metrics_csv


@click.command("plot-log")
@click.argument("log", type=click.Path(exists=True, dir_okay=False))
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="PNG path (default: LOG.png).")
@click.option("--csv", "csv_path", type=click.Path(dir_okay=False), help="Also write metrics as CSV.")
def plot_log(log, output, csv_path):
    """Loss curves from any Caffe training log, including plain `caffe train` logs."""
    with open(log, errors="replace") as f:
        metrics = parse_lines(f)
    if not metrics.train and not metrics.test:
        raise BadInput(f"{log}: no training iterations found; is it a Caffe training log?")
    output = output or str(Path(log).with_suffix(".png"))
    plot_loss_curve(metrics, output, title=Path(log).name)
    if csv_path:
        Path(csv_path).write_text(metrics_csv(metrics))
    click.echo(f"{output}: {len(metrics.train)} train points, {len(metrics.test)} test phases, "
               f"last iteration {metrics.iteration}")
