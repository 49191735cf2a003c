"""gen-solver: a solver for a net with the defaults of Caffe's siamese example."""

from pathlib import Path

import click

from caffesiam.caffe.proto import caffe_pb2, read_text, to_text
from caffesiam.commands.output import emit
from caffesiam.commands.params import OutputFile, count, number
from caffesiam.errors import SolverError
from caffesiam.net.params import shared_param_names
from caffesiam.net.solver import LR_POLICY_FIELDS, POLICY_DEFAULTS, SOLVER_DEFAULTS, build_solver


def _default(name: str) -> str:
    """'[default: 0.01]': the example's value of `name`, for --help."""
    value = SOLVER_DEFAULTS[name]
    return f"[default: {value if isinstance(value, str) else format(value, 'g')}]"


def _policy_default(name: str) -> str:
    """'0.0001 for inv, 0.1 for step and multistep': `name`'s default under each policy."""
    policies: dict[float, list[str]] = {}
    for policy, values in POLICY_DEFAULTS.items():
        if name in values:
            policies.setdefault(values[name], []).append(policy)
    return ", ".join(f"{value:g} for {' and '.join(p)}" for value, p in policies.items())


@click.command("gen-solver")
@click.argument("net", type=click.Path(dir_okay=False))
@click.option(
    "-o", "--output", type=OutputFile(allow_dash=True), help="Write here instead of stdout."
)
@click.option("--snapshot-prefix", help="Default: the net's name, next to the net file.")
@click.option("--max-iter", type=count(), help=_default("max_iter"))
@click.option("--base-lr", type=number(min=0, min_open=True), help=_default("base_lr"))
@click.option("--test-iter", type=count(), help=_default("test_iter"))
@click.option("--test-interval", type=count(), help=_default("test_interval"))
@click.option("--display", type=count(min=0), help=_default("display"))
@click.option(
    "--snapshot",
    type=count(min=0),
    help=f"Snapshot every N iterations {_default('snapshot')}.",
)
@click.option("--momentum", type=number(min=0), help=_default("momentum"))
@click.option("--weight-decay", type=number(min=0), help=_default("weight_decay"))
@click.option(
    "--lr-policy",
    type=click.Choice(list(LR_POLICY_FIELDS)),
    help=f"Learning-rate schedule {_default('lr_policy')}.",
)
@click.option(
    "--gamma",
    type=number(min=0, min_open=True),
    help=f"[default: {_policy_default('gamma')}]",
)
@click.option(
    "--power",
    type=number(min=0, min_open=True),
    help=f"inv and poly [default: {_policy_default('power')}].",
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
    """Write a solver for NET with the defaults of Caffe's siamese example (--help shows each).

    Shared params get `layer_wise_reduce: false`, which multi-GPU training needs. A setting
    that the chosen --lr-policy does not read is an error, as is a missing one it needs.
    """
    net_param = read_text(net, caffe_pb2().NetParameter(), error=SolverError)
    prefix = snapshot_prefix or str(Path(net).parent / (net_param.name or Path(net).stem))
    solver = build_solver(
        net, prefix, shares_params=bool(shared_param_names(net_param)), gpu=not cpu, **overrides
    )
    emit(to_text(solver), output)
