"""The progress bar every long-running command draws (the library only reports progress)."""

import sys
from contextlib import contextmanager

import click


@contextmanager
def progress_bar(length, label):
    """A progress bar on a terminal (stderr), nothing otherwise; yields advance(n) or None."""
    if not sys.stderr.isatty():
        yield None
        return
    with click.progressbar(length=length, label=label, file=sys.stderr) as bar:
        yield bar.update
