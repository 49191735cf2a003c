"""Where a command's text goes: stdout, or a file written whole."""

import click

from caffesiam.files import write_text_atomic


def emit(text: str, output=None):
    """Print to stdout, or write atomically to `output`."""
    if output is None or str(output) == "-":
        click.echo(text, nl=False)
    else:
        write_text_atomic(output, text)
