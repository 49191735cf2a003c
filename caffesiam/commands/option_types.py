"""Option types shared by the commands, so that a value is refused where it is parsed, before work.

- `number(...)`: a finite float in a range (click's FloatRange lets nan and inf through);
- `count(...)`: an integer that fits Caffe's int32 fields;
- `OutputFile()`, `OutputDir()`: paths checked by files.check_output(_dir): folder writable, ...
- `NAME`: a plain name (one path component) for names that become part of output paths;
- `checked_by(check)`: a callback that makes a library check's BadInput the option's error.
"""

import math
from pathlib import Path

import click

from caffesiam.errors import BadInput
from caffesiam.files import check_output, check_output_dir, safe_name
from caffesiam.limits import INT32_MAX


def checked_by(check):
    """A click callback: None stays None, else check(value); its BadInput or ValueError (a pure
    parser's refusal) is the option's error."""

    def callback(ctx, param, value):
        if value is None:
            return None
        try:
            return check(value)
        except (BadInput, ValueError) as e:
            raise click.BadParameter(str(e), ctx, param) from e

    return callback


class FiniteRange(click.FloatRange):
    """click.FloatRange that also refuses nan and inf."""

    name = "number"

    def convert(self, value, param, ctx):
        number = click.FLOAT.convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        return super().convert(number, param, ctx)


def number(min=None, max=None, min_open=False, max_open=False) -> FiniteRange:
    """A finite float, optionally bounded (open bounds exclude the bound itself)."""
    return FiniteRange(min, max, min_open=min_open, max_open=max_open)


def count(min: int = 1, max: int = INT32_MAX) -> click.IntRange:
    """An integer from `min` to `max` (by default what Caffe's int32 fields hold)."""
    return click.IntRange(min, max)


class OutputFile(click.Path):
    """A file the command will write, checked before any work (files.check_output);
    `allow_dash` lets '-' mean stdout."""

    def __init__(self, allow_dash: bool = False):
        # directories are refused by check_output, in the same words as every other bad output
        super().__init__(path_type=Path, allow_dash=allow_dash)

    def convert(self, value, param, ctx):
        path = super().convert(value, param, ctx)
        if self.allow_dash and str(path) == "-":
            return path
        try:
            return check_output(path)
        except BadInput as e:
            self.fail(str(e), param, ctx)


class _Name(click.ParamType):
    name = "name"

    def convert(self, value, param, ctx):
        try:
            return safe_name(value)
        except BadInput as e:
            self.fail(str(e), param, ctx)


NAME = _Name()


class OutputDir(click.Path):
    """A directory the command will make or fill, checked before any work (check_output_dir)."""

    def __init__(self):
        super().__init__(file_okay=False, path_type=Path)

    def convert(self, value, param, ctx):
        try:
            return check_output_dir(super().convert(value, param, ctx))
        except BadInput as e:
            self.fail(str(e), param, ctx)
