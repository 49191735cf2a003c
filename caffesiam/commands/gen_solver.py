"""gen-solver: a solver for a net with the defaults of Caffe's siamese example."""

from pathlib import Path

import click

from caffesiam.caffe.proto import caffe_pb2, read_text, to_text
from caffesiam.commands.option_types import OutputFile, count, number
from caffesiam.commands.output import emit
from caffesiam.errors import SolverError
from caffesiam.net.solver import LR_POLICY_FIELDS, build_solver
from caffesiam.spec.params import shared_param_names


@click.command("gen-solver")
@click.argument("net", type=click.Path(dir_okay=False))
@click.option(
    "-o", "--output", type=OutputFile(allow_dash=True), help="Write here instead of stdout."
)
@click.option("--snapshot-prefix", help="Default: the net's name, next to the net file.")
@click.option("--max-iter", type=count())
@click.option("--base-lr", type=number(min=0, min_open=True))
@click.option("--test-iter", type=count())
@click.option("--test-interval", type=count())
@click.option("--display", type=count(min=0))
@click.option("--snapshot", type=count(min=0), help="Snapshot every N iterations.")
@click.option("--momentum", type=number(min=0))
@click.option("--weight-decay", type=number(min=0))
@click.option(
    "--lr-policy",
    type=click.Choice(list(LR_POLICY_FIELDS)),
    help="Learning-rate schedule [default: inv, as Caffe's example].",
)
@click.option(
    "--gamma",
    type=number(min=0, min_open=True),
    help="[default: 1e-4 for inv, 0.1 for step and multistep]",
)
@click.option(
    "--power", type=number(min=0, min_open=True), help="inv and poly [default: 0.75 for inv]."
)
@click.option("--stepsize", type=count(), help="step and sigmoid.")
@click.option(
    "--stepvalue",
    type=count(),
    multiple=True,
    help="multistep: the iterations where lr is multiplied by gamma (repeat the option).",
)
@click.option("--random-seed", type=click.IntRange(-(2**63), 2**63 - 1))
@click.option("--cpu/--gpu", "cpu", default=True, show_default=True, help="solver_mode.")
def gen_solver(net, output, snapshot_prefix, cpu, **overrides):
    """Write a solver for NET with the defaults of Caffe's siamese example.

    base_lr 0.01, momentum 0.9, lr_policy inv (gamma 1e-4, power 0.75), test_interval 500,
    test_iter 100. Shared params get `layer_wise_reduce: false`, which multi-GPU training needs.
    A setting that the chosen --lr-policy does not read is an error, as is a missing one it needs.
    """
    net_param = read_text(net, caffe_pb2().NetParameter(), error=SolverError)
    prefix = snapshot_prefix or str(Path(net).parent / (net_param.name or Path(net).stem))
    solver = build_solver(
        net, prefix, shares_params=bool(shared_param_names(net_param)), gpu=not cpu, **overrides
    )
    emit(to_text(solver), output)
