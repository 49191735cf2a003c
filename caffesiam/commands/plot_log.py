"""plot-log: loss curves and metrics.csv from any saved Caffe training log."""

from pathlib import Path

import click

from caffesiam.commands.option_types import OutputFile
from caffesiam.errors import BadInput
from caffesiam.files import check_output, open_lines, staged


@click.command("plot-log")
@click.argument("log", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("-o", "--output", type=OutputFile(), help="PNG path (default: LOG.png).")
@click.option("--csv", "csv_path", type=OutputFile(), help="Also write metrics as CSV.")
def plot_log(log, output, csv_path):
    """Loss curves from any Caffe training log, including plain `caffe train` logs.

    Both files are written, or neither: a failure leaves any earlier ones untouched.
    """
    from caffesiam.charts.loss import plot_loss_curve
    from caffesiam.train.log import parse_lines
    from caffesiam.train.metrics_csv import metrics_csv

    output = output or check_output(log.with_suffix(".png"))
    with open_lines(log, BadInput, "training log") as lines:
        metrics = parse_lines(lines)
    if not metrics.train and not metrics.test:
        raise BadInput(f"{log}: no training iterations found; is it a Caffe training log?")
    with staged() as stage:
        plot_loss_curve(metrics, stage(output), title=log.name)
        if csv_path:
            stage(csv_path).write_text(metrics_csv(metrics))
    bad = metrics.diverged
    diverged = f"; diverged at iteration {bad.iteration} (loss = {bad.loss})" if bad else ""
    click.echo(
        f"{output}: {len(metrics.train)} train points, {len(metrics.test)} test phases, "
        f"last iteration {metrics.iteration}{diverged}"
    )
