"""Options that several commands share are defined once, as groups applied by one decorator."""

import click

from caffesiam.commands.option_types import number
from caffesiam.net.options import Option


def option_group(*options):
    """One decorator applying click `options`; --help lists them in the order given."""

    def apply(f):
        for option in reversed(options):
            f = option(f)
        return f

    return apply


def click_type(option: Option):
    """The click type that reads `option`'s values as net.options.option_value does."""
    if option.kind is str:
        return click.Choice(option.choices) if option.choices else click.STRING
    if option.kind is float:
        return number(min=option.low, min_open=option.low_open)
    return click.IntRange(option.low, option.high)


def table_options(options):
    """The click options of a table of net.options.Option, in its order (flags default to None:
    not given)."""
    return option_group(
        *(
            click.option(o.flag, o.name, is_flag=True, default=None, help=o.help)
            if o.kind is bool
            else click.option(o.flag, o.name, type=click_type(o), multiple=o.repeated, help=o.help)
            for o in options
        )
    )
