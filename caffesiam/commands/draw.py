"""draw: any Caffe net -> PNG, SVG, PDF or DOT, towers and shared params made visible."""

import click

from caffesiam.commands.option_types import OutputFile
from caffesiam.draw.graph import DETAILS, PHASE_CHOICES, RANKDIRS
from caffesiam.draw.render import draw_file, output_format
from caffesiam.errors import BadInput


def _check_format(ctx, param, value):
    try:
        output_format(value)
    except BadInput as e:
        raise click.BadParameter(str(e)) from e
    return value


@click.command()
@click.argument("net", type=click.Path(dir_okay=False))
@click.option(
    "-o",
    "--output",
    type=OutputFile(),
    required=True,
    callback=_check_format,
    help="Output file: .png, .svg, .pdf, or .dot for the Graphviz source.",
)
@click.option(
    "--rankdir",
    type=click.Choice(RANKDIRS, case_sensitive=False),
    default="TB",
    show_default=True,
    help="Direction of the layout.",
)
@click.option(
    "--phase",
    type=click.Choice(PHASE_CHOICES, case_sensitive=False),
    default="ALL",
    show_default=True,
    help="Draw the layers of this phase only.",
)
@click.option(
    "--detail",
    type=click.Choice(DETAILS, case_sensitive=False),
    default="low",
    show_default=True,
    help="high adds param names, lr_mult, data sources, all blob names.",
)
@click.option(
    "--shapes",
    is_flag=True,
    help="Blob shapes on the edges, computed with pycaffe (needs the net's data sources).",
)
def draw(net, output, rankdir, phase, detail, shapes):
    """Draw NET (any Caffe net prototxt) with its towers and shared params made visible."""
    out = draw_file(
        net,
        output,
        rankdir=rankdir.upper(),
        phase=phase.upper(),
        detail=detail.lower(),
        shapes=shapes,
        warn=lambda msg: click.echo(f"caffesiam: {msg}", err=True),
    )
    click.echo(f"wrote {out}")
