"""NetParameter → graphviz.Digraph (pure): tower clusters, shared-param edges, layer summaries.

The first of the three layers of Caffe's python/caffe/draw.py (draw.render has the other two).
Unlike Caffe's draw, blobs are edges rather than nodes, and in-place layers are folded into the
layer whose output they rewrite.
"""

from collections import defaultdict
from html import escape

import graphviz

from caffesiam.draw.labels import category, dims, summary
from caffesiam.draw.structure import (
    find_shares,
    find_towers,
    is_in_place,
    layer_phases,
    param_problems,
    select_phase,
)

RANKDIRS = ("TB", "LR", "BT", "RL")
PHASE_CHOICES = ("ALL", "TRAIN", "TEST")
DETAILS = ("low", "high")

_RED = "#D32F2F"
_SHARE_BLUE = "#1565C0"
_FILL = {
    "data": "#FFE0B2",
    "conv": "#BBDEFB",
    "pool": "#C8E6C9",
    "ip": "#D1C4E9",
    "loss": "#FFF59D",
    "other": "#ECEFF1",
}
_TOWER_FILL = ("#F1F8FF", "#F3FBF1", "#FFF8F1")
_GROUP_FILL = "#FAFAFA"


def _phase_tag(layer, phase: str) -> str:
    phases = layer_phases(layer)
    return f" [{'/'.join(sorted(phases)) or 'never'}]" if phase == "ALL" and len(phases) < 2 else ""


def node_label(layer, folded: list, detail: str, phase: str, problems: list[str]) -> str:
    """An HTML label: name (bold), type and summary, folded in-place layers, and red problems."""
    rows = [f"<B>{escape(layer.name)}</B>{escape(_phase_tag(layer, phase))}"]
    text = summary(layer)
    # Short summaries share the type's line; long ones (conv, pool) get their own.
    rows += (
        [escape(f"{layer.type}  {text}".strip())]
        if len(text) < 14
        else [escape(layer.type), escape(text)]
    )
    for inner in folded:
        extra = summary(inner)
        name = f" ({inner.name})" if detail == "high" else ""
        rows.append(escape(f"+ {inner.type}{' ' + extra if extra else ''}{name}"))
    if detail == "high":
        params = [
            f"{p.name or '·'} lr {p.lr_mult if p.HasField('lr_mult') else 1:g}"
            for lay in [layer, *folded]
            for p in lay.param
        ]
        for k in range(0, len(params), 3):  # three per row keeps BatchNorm-heavy nodes narrow
            rows.append(escape(("params: " if k == 0 else "") + ", ".join(params[k : k + 3])))
        if layer.type == "Data" and layer.data_param.source:
            rows.append(escape(f"source: {layer.data_param.source}"))
    rows += [f'<FONT COLOR="{_RED}">{escape(p)}</FONT>' for p in problems]
    return "<" + "<BR/>".join(rows) + ">"


def _fold_in_place(layers):
    """(drawn layer indices, {host index: [folded layers]}, {layer name: host index})."""
    producers: dict[str, list[int]] = defaultdict(list)
    drawn, folded, host_of = [], defaultdict(list), {}
    for i, layer in enumerate(layers):
        if is_in_place(layer) and len(producers[layer.top[0]]) == 1:
            host = producers[layer.top[0]][0]
            folded[host].append(layer)
            host_of[layer.name] = host
            continue
        drawn.append(i)
        host_of.setdefault(layer.name, i)
        for top in layer.top:
            producers[top] = [i]
    return drawn, folded, host_of


def _shape_text(blob: str, blob_shapes) -> str:
    shapes = (blob_shapes or {}).get(blob)
    return " | ".join(dims(s) for s in shapes) if shapes else ""


def plain_text(text: str) -> str:
    """`text` for a plain (not HTML) DOT label or ID: entities escaped and backslashes doubled, so
    a name's backslash (a trailing one would end the quoted string) is drawn as itself."""
    return escape(text).replace("\\", "\\\\")


def _blob_edges(layers, drawn, detail: str, blob_shapes):
    """(producer, consumer, label) per blob use; layers of disjoint phases may both produce a
    blob."""
    producers: dict[str, list[int]] = defaultdict(list)
    edges, orphans = [], set()
    for i in drawn:
        layer = layers[i]
        for blob in layer.bottom:
            if not producers[blob]:
                orphans.add(blob)
            for p in producers[blob] or [
                blob
            ]:  # a str producer: the blob itself, drawn as an ellipse
                named = isinstance(p, str) or layers[p].name != blob or detail == "high"
                parts = (blob if named else "", _shape_text(blob, blob_shapes))
                label = "\\n".join(plain_text(t) for t in parts if t)
                edges.append((p, i, label))
        for top in layer.top:
            keep = [p for p in producers[top] if not layer_phases(layers[p]) & layer_phases(layer)]
            producers[top] = keep + [i]
    return edges, orphans


def _groups(layers, drawn, towers) -> dict[str, list[int]]:
    """Cluster name → drawn layer indices: one per tower, then pair input and pair head."""
    if towers is None:
        return {}
    groups = {f"tower{s}": [] for s in towers.suffixes}
    groups.update({"pair_in": [], "pair_out": []})
    in_tower = set()
    for i in drawn:
        suffix = towers.tower_of(layers[i].name)
        if suffix is not None:
            groups[f"tower{suffix}"].append(i)
            in_tower.add(i)
    # Layers before the first tower layer feed the pair in; the rest (loss, accuracy) come after.
    first = min(in_tower) if in_tower else len(layers)
    for i in drawn:
        if i not in in_tower:
            groups["pair_in" if i < first else "pair_out"].append(i)
    return groups


_GROUP_TITLES = {"pair_in": "pair data / slice", "pair_out": "loss"}


def _group_label(group: str) -> str:
    if group in _GROUP_TITLES:
        return _GROUP_TITLES[group]
    suffix = group[len("tower") :]
    return f"tower {suffix} (twin)" if suffix else "tower"


def _title(name: str, shares) -> str:
    """The graph's title; with a key to the dashed edges when the net shares params."""
    rows = [f"<B>{escape(name)}</B>"] if name else []
    if shares:
        key = (
            f'<FONT POINT-SIZE="11" COLOR="{_SHARE_BLUE}">'
            "- - -  shared params: one copy of the weights, used by both layers</FONT>"
        )
        if any(share.problems for share in shares):
            key += f'   <FONT POINT-SIZE="11" COLOR="{_RED}">red: not shared as it should be</FONT>'
        rows.append(key)
    return "<" + "<BR/>".join(rows) + ">" if rows else ""


def build_graph(
    net,
    rankdir: str = "TB",
    phase: str = "ALL",
    detail: str = "low",
    blob_shapes: dict | None = None,
    param_shapes: dict | None = None,
) -> graphviz.Digraph:
    """The diagram of `net` in `phase`: tower clusters, blob edges and dashed shared-param edges."""
    layers = select_phase(net, phase)
    towers = find_towers(layers)
    bad = param_problems(layers, towers, param_shapes)
    shares = find_shares(layers, towers, bad)
    drawn, folded, host_of = _fold_in_place(layers)
    problems = _problems_by_node(layers, shares, bad, host_of)

    def node(i) -> dict:
        red = bool(problems[i])
        return dict(
            label=node_label(layers[i], folded[i], detail, phase, problems[i]),
            fillcolor=_FILL[category(layers[i])],
            color=_RED if red else "#424242",
            penwidth="2.2" if red else "1",
        )

    g = graphviz.Digraph(
        name=plain_text(net.name or "net"),
        graph_attr={
            "rankdir": rankdir,
            "label": _title(net.name, shares),
            "labelloc": "t",
            "fontname": "Helvetica",
            "fontsize": "16",
            "nodesep": "0.3",
            "ranksep": "0.35",
            "newrank": "true",
        },
        node_attr={
            "shape": "box",
            "style": "rounded,filled",
            "fontname": "Helvetica",
            "fontsize": "11",
            "margin": "0.12,0.05",
        },
        edge_attr={
            "fontname": "Helvetica",
            "fontsize": "9",
            "color": "#555555",
            "arrowsize": "0.7",
        },
    )
    group_of = _add_nodes(g, drawn, _groups(layers, drawn, towers), node)
    _add_blob_edges(g, *_blob_edges(layers, drawn, detail, blob_shapes), group_of)
    _add_share_edges(g, shares, host_of)
    return g


def _problems_by_node(layers, shares, bad: dict[str, str], host_of) -> dict[int, list[str]]:
    """What is wrong with each drawn node's params: its shares' problems, then lone bad names."""
    problems = defaultdict(list)
    for share in shares:
        for name in (share.a, share.b):
            problems[host_of[name]] += [
                p for p in share.problems if p not in problems[host_of[name]]
            ]
    for layer in layers:  # a name used once outside any twin pair (e.g. a tower layer without twin)
        for spec in layer.param:
            note = f"{spec.name}: {bad[spec.name]}" if spec.name in bad else None
            if note and note not in problems[host_of[layer.name]]:
                problems[host_of[layer.name]].append(note)
    return problems


def _add_nodes(g, drawn, groups: dict[str, list[int]], node) -> dict[int, str]:
    """A node per drawn layer, in its group's cluster if it has one; returns {node: group}."""
    group_of = {}
    for n, (group, members) in enumerate(groups.items()):
        if not members:
            continue
        tower = group.startswith("tower")
        with g.subgraph(name=f"cluster_{group}") as c:
            c.attr(
                label=_group_label(group),
                style="rounded,filled",
                fillcolor=_TOWER_FILL[n % len(_TOWER_FILL)] if tower else _GROUP_FILL,
                color="#90A4AE",
                fontname="Helvetica-Bold",
                fontsize="13",
            )
            for i in members:
                c.node(f"L{i}", **node(i))
                group_of[i] = group
    for i in drawn:
        if i not in group_of:
            g.node(f"L{i}", **node(i))
    return group_of


def _add_blob_edges(g, edges, orphans, group_of: dict[int, str]):
    # Blobs nothing produces (in a nonsense or partial net) are drawn as ellipses.
    orphan_ids = {blob: f"B{k}" for k, blob in enumerate(sorted(orphans))}
    for blob, node in orphan_ids.items():
        g.node(node, plain_text(blob), shape="ellipse", style="filled", fillcolor="#E0E0E0")
    for src, dst, label in edges:
        # Edges that jump past the towers (sim → loss) would pull the pair groups off centre.
        bypass = group_of.get(src) == "pair_in" and group_of.get(dst) == "pair_out"
        g.edge(
            f"L{src}" if isinstance(src, int) else orphan_ids[src],
            f"L{dst}",
            label=label,
            **({"constraint": "false"} if bypass else {}),
        )


def _add_share_edges(g, shares, host_of: dict[str, int]):
    """One dashed edge per pair of drawn nodes, a line per share (folded BatchNorm, Scale share
    too)."""
    merged = defaultdict(list)
    for share in shares:
        if host_of[share.a] != host_of[share.b]:
            merged[host_of[share.a], host_of[share.b]].append(share)
    for (a, b), group in merged.items():
        red = any(share.problems for share in group)
        label = (
            "\\n".join(", ".join(map(plain_text, share.names)) for share in group if share.names)
            or "not shared"
        )
        if red and label != "not shared":
            label += " (!)"
        g.edge(
            f"L{a}",
            f"L{b}",
            label=label,
            style="dashed",
            dir="none",
            constraint="false",
            color=_RED if red else _SHARE_BLUE,
            fontcolor=_RED if red else _SHARE_BLUE,
            penwidth="1.6",
        )
    return g
