"""A diagram rendered and written: `render` turns the graph into bytes with Graphviz's `dot`, and
`draw_file` alone touches files (the last two layers of Caffe's python/caffe/draw.py)."""

from pathlib import Path
from typing import Callable

import graphviz

from caffesiam.caffe import runner
from caffesiam.caffe.netload import load_net
from caffesiam.caffe.shapes import compute_shapes
from caffesiam.draw.graph import build_graph
from caffesiam.errors import BadInput, CaffesiamError

FORMATS = ("png", "svg", "pdf", "dot")


def render(graph: graphviz.Digraph, fmt: str) -> bytes:
    """The diagram as PNG, SVG or PDF bytes, drawn by Graphviz's `dot`."""
    runner.require("dot", "graphviz")
    try:
        return graph.pipe(format=fmt)
    except graphviz.ExecutableNotFound as e:
        raise CaffesiamError("Graphviz 'dot' could not be run; install it (Debian: apt-get install graphviz)") from e
    except graphviz.CalledProcessError as e:
        tail = (e.stderr or b"").decode(errors="replace").strip()[-300:]
        raise CaffesiamError(f"dot failed (exit {e.returncode}): {tail}") from e


def output_format(out_path) -> str:
    """png, svg, pdf or dot, from the output file's extension."""
    fmt = Path(out_path).suffix.lower().lstrip(".")
    if fmt not in FORMATS:
        raise BadInput(f"{out_path}: unknown output type '.{fmt}'; use one of "
                       + ", ".join("." + f for f in FORMATS))
    return fmt


def draw_file(net_path, out_path, rankdir: str = "TB", phase: str = "ALL", detail: str = "low",
              shapes: bool = False, warn: Callable[[str], None] = lambda msg: None) -> Path:
    """Draw the net at `net_path` into `out_path` (format from its extension); returns the path."""
    fmt = output_format(out_path)
    net = load_net(net_path)
    blob_shapes = param_shapes = None
    if shapes:
        phases = ["TRAIN", "TEST"] if phase == "ALL" else [phase]
        blob_shapes, param_shapes, why = compute_shapes(str(net_path), phases)
        if why:
            warn(f"drawing without shapes: the net cannot be set up in Caffe ({why})")
    graph = build_graph(net, rankdir=rankdir, phase=phase, detail=detail,
                        blob_shapes=blob_shapes, param_shapes=param_shapes)
    data = graph.source.encode() if fmt == "dot" else render(graph, fmt)
    out = Path(out_path)
    try:
        out.write_bytes(data)
    except OSError as e:
        raise BadInput(f"{out}: cannot write ({e.strerror or e})") from e
    return out
