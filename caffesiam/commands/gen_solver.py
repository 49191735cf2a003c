"""gen-solver: a solver for a net with the defaults of Caffe's siamese example."""

from pathlib import Path

import click

from caffesiam.caffe.proto import caffe_pb2, parse_text, to_text
from caffesiam.commands.option_types import OutputFile
from caffesiam.commands.options import table_options
from caffesiam.commands.output import emit
from caffesiam.errors import SolverError
from caffesiam.files import input_name, is_pipe, read_text_input
from caffesiam.net.generate import solver_for
from caffesiam.net.options import SOLVER_OPTIONS


@click.command("gen-solver")
@click.argument("net", type=click.Path(dir_okay=False))
@click.option(
    "-o", "--output", type=OutputFile(allow_dash=True), help="Write here instead of stdout."
)
@click.option(
    "--net-path",
    help="The net file that the solver names for Caffe to read at train time [default: NET]; "
    "needed when NET is a pipe (<(...)) or - (stdin).",
)
@click.option("--snapshot-prefix", help="Default: the net's name, next to the net file.")
@table_options(SOLVER_OPTIONS)
@click.option("--cpu/--gpu", "cpu", default=True, show_default=True, help="solver_mode.")
def gen_solver(net, output, net_path, snapshot_prefix, cpu, **settings):
    """Write a solver for NET with the defaults of Caffe's siamese example (--help shows each).

    Shared params get `layer_wise_reduce: false`, which multi-GPU training needs. A setting that
    the chosen --lr-policy does not read is an error, as is a missing one it needs.
    """
    if net_path is None and is_pipe(net):
        raise SolverError(
            f"{input_name(net)}: is a pipe, but the solver names its net's file for Caffe to "
            "read at train time: give that file with --net-path"
        )
    net_path = net_path or net
    text = read_text_input(net, SolverError, "net")
    net_param = parse_text(text, caffe_pb2().NetParameter(), input_name(net), SolverError)
    name = net_param.name or Path(net_path).stem
    prefix = snapshot_prefix or str(Path(net_path).parent / name)
    emit(to_text(solver_for(net_path, net_param, prefix, settings, gpu=not cpu)), output)
