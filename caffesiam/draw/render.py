"""A diagram rendered and written: `render` turns the graph into bytes with Graphviz's `dot`, and
`draw_file` alone touches files (the last two layers of Caffe's python/caffe/draw.py)."""

import re
import tempfile
from collections.abc import Callable
from pathlib import Path

import graphviz

from caffesiam.caffe import runner
from caffesiam.caffe.netload import parse_net
from caffesiam.caffe.shapes import compute_shapes
from caffesiam.data.probe import missing_data_source
from caffesiam.draw.graph import build_graph
from caffesiam.errors import BadInput, CaffesiamError, SpecError
from caffesiam.files import input_name, is_pipe, read_text_input, staged

FORMATS = ("png", "svg", "pdf", "dot")
# C0 controls but tab and newline, and DEL: a layer name may hold them (prototxt escapes such as
# "\000"), and dot rejects a NUL anywhere and any of them inside an HTML-like label.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def dot_text(graph: graphviz.Digraph) -> str:
    """The DOT source of `graph`, control characters shown as their Unicode pictures
    (NUL: \u2400)."""
    return _CONTROL.sub(
        lambda m: chr(0x2421 if m.group() == "\x7f" else 0x2400 + ord(m.group())), graph.source
    )


def render(source: str, fmt: str) -> bytes:
    """The diagram of DOT `source` as PNG, SVG or PDF bytes, drawn by Graphviz's `dot`; a dot
    failure is one line (its first error line)."""
    runner.require("dot", "graphviz")
    try:
        return graphviz.pipe("dot", fmt, source.encode(), quiet=True)
    except graphviz.ExecutableNotFound as e:
        raise CaffesiamError(
            "Graphviz 'dot' could not be run; install it (Debian: apt-get install graphviz)"
        ) from e
    except graphviz.CalledProcessError as e:
        lines = [line.strip() for line in (e.stderr or b"").decode(errors="replace").splitlines()]
        first = next(
            (line for line in lines if "rror" in line), next(filter(None, lines), "no message")
        )
        raise CaffesiamError(f"dot failed (exit {e.returncode}): {first[:300]}") from e


def output_format(out_path) -> str:
    """png, svg, pdf or dot, from the output file's extension."""
    fmt = Path(out_path).suffix.lower().lstrip(".")
    if fmt not in FORMATS:
        raise BadInput(
            f"{out_path}: unknown output type '.{fmt}'; use one of "
            + ", ".join("." + f for f in FORMATS)
        )
    return fmt


def draw_file(
    net_path,
    out_path,
    rankdir: str = "TB",
    phase: str = "ALL",
    detail: str = "low",
    shapes: bool = False,
    warn: Callable[[str], None] = lambda msg: None,
) -> Path:
    """Draw the net at `net_path` (a file or a pipe, `-` for stdin) into `out_path` (format from
    its extension); returns the path."""
    fmt = output_format(out_path)
    text = read_text_input(net_path, SpecError)
    net = parse_net(text, input_name(net_path))
    blob_shapes = param_shapes = None
    # Caffe's LevelDB reader creates a missing database while it fails: never hand it one.
    missing = missing_data_source(net, Path.cwd()) if shapes else None
    if missing:
        warn(f"drawing without shapes: {missing}")
    elif shapes:
        phases = ["TRAIN", "TEST"] if phase == "ALL" else [phase]
        blob_shapes, param_shapes, why = _shapes(net_path, text, phases)
        if why:
            warn(f"drawing without shapes: the net cannot be set up in Caffe ({why})")
    source = dot_text(
        build_graph(
            net,
            rankdir=rankdir,
            phase=phase,
            detail=detail,
            blob_shapes=blob_shapes,
            param_shapes=param_shapes,
        )
    )
    data = source.encode() if fmt == "dot" else render(source, fmt)
    out = Path(out_path)
    with staged() as stage:
        stage(out).write_bytes(data)
    return out


def _shapes(net_path, text: str, phases: list[str]):
    """compute_shapes of the net; one read from a pipe is set up from a temporary copy of its
    text, as the child process cannot read the pipe again."""
    if not is_pipe(net_path):
        return compute_shapes(str(net_path), phases)
    with tempfile.TemporaryDirectory(prefix="caffesiam-draw-") as folder:
        copy = Path(folder) / "net.prototxt"
        copy.write_text(text)
        return compute_shapes(str(copy), phases)
