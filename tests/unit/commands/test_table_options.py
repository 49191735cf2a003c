"""The click options that gen-net, gen-solver and sweep make from their library tables agree
with those tables: same names and flags, and every sample value read the same way by click as
by net.options.option_value (which a sweep's values go through)."""

import click
import pytest

from caffesiam.commands.gen_net import gen_net
from caffesiam.commands.gen_solver import gen_solver
from caffesiam.commands.sweep import sweep
from caffesiam.net.options import NET_OPTIONS, SOLVER_OPTIONS, option_value
from caffesiam.sweep.settings import ENGINE_OPTIONS

TABLES = [
    (gen_net, NET_OPTIONS, {"output", "deploy", "deploy_batch", "train_source", "test_source"}),
    (gen_solver, SOLVER_OPTIONS, {"output", "net_path", "snapshot_prefix", "cpu"}),
    (sweep.commands["run"], ENGINE_OPTIONS, {"out", "wait", "dry_run"}),
    (sweep.commands["resume"], ENGINE_OPTIONS, {"wait"}),
]
SAMPLES = ["0", "1", "-1", "2.5", "1e-4", "2147483647", "2147483648", "nan", "inf", "-inf", "x"]
SAMPLES += ["lmdb", "leveldb", "triplet", "chopra2005", "multistep", "fixed", "slurm", "local"]


def _options(command) -> dict[str, click.Option]:
    return {p.name: p for p in command.params if isinstance(p, click.Option)}


@pytest.mark.parametrize("command, table, own", TABLES, ids=lambda x: getattr(x, "name", ""))
def test_the_commands_options_are_the_table_and_their_own(command, table, own):
    options = _options(command)
    assert set(options) - own == {o.name for o in table}
    for o in table:
        assert options[o.name].opts == [o.flag]
        assert options[o.name].is_flag == (o.kind is bool)
        assert options[o.name].multiple == o.repeated


def _by_click(param: click.Option, text: str):
    try:
        return ("ok", param.type.convert(text, param, None))
    except click.BadParameter:
        return ("refused", None)


def _by_library(option, text: str):
    try:
        value = option_value(option, text)
    except ValueError:
        return ("refused", None)
    return ("ok", value[0] if option.repeated else value)


@pytest.mark.parametrize("command, table, own", TABLES, ids=lambda x: getattr(x, "name", ""))
def test_click_and_the_library_read_every_value_alike(command, table, own):
    options = _options(command)
    for o in table:
        if o.kind is bool:
            continue
        for text in SAMPLES:
            assert _by_click(options[o.name], text) == _by_library(o, text), (o.name, text)
