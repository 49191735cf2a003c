"""One figure, laid out and saved as one PNG.

Figures are built with matplotlib's object API (matplotlib.figure.Figure), not pyplot: no
backend is chosen for the whole process and no figure stays registered, so a chart has no
side effects beyond its file.
"""

from contextlib import contextmanager


def plain(text: str) -> str:
    """`text` as matplotlib draws it literally: a '$' is a dollar sign, not the start of math
    text (which would refuse a name like '$\\foo$')."""
    return text.replace("$", r"\$")


@contextmanager
def figure(out_path, dpi: int, figsize, **subplots):
    """Yields (figure, fig.subplots(**subplots)); laid out and saved to `out_path` after the
    block."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize)
    yield fig, fig.subplots(**subplots)
    fig.tight_layout()
    fig.savefig(out_path, dpi=dpi)
