"""A net's structure, for drawing: phase filtering, towers found by name suffix, shared params.

Pure functions over a NetParameter. A siamese net has a base tower (conv1, pool1, ...) and a
twin per suffix (conv1_p, ...); a triplet net adds `_n`. Sharing is checked the way Caffe's
Net::AppendParam does: one name, same shape, same lr_mult.
"""

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from caffesiam.caffe.proto import caffe_pb2
from caffesiam.spec.names import TWIN_SUFFIXES
from caffesiam.spec.params import PARAM_MESSAGE, SHAPE_FIELDS

PHASES = ("TRAIN", "TEST")


def layer_phases(layer) -> set[str]:
    """Phases a layer runs in, by its include/exclude rules (mirrors Net::StateMeetsRule for
    phase)."""
    pb = caffe_pb2()

    def meets(rule, phase):
        return not rule.HasField("phase") or pb.Phase.Name(rule.phase) == phase

    if layer.include:
        return {p for p in PHASES if any(meets(r, p) for r in layer.include)}
    return {
        p for p in PHASES if not any(meets(r, p) and r.HasField("phase") for r in layer.exclude)
    }


def select_phase(net, phase: str) -> list:
    """The layers of `net` present in `phase` (TRAIN, TEST or ALL)."""
    if phase == "ALL":
        return list(net.layer)
    return [layer for layer in net.layer if phase in layer_phases(layer)]


def is_in_place(layer) -> bool:
    """True for layers that rewrite their input blob (ReLU, Dropout, in-place BatchNorm...)."""
    return len(layer.top) == 1 and list(layer.bottom[:1]) == list(layer.top)


@dataclass
class Towers:
    """Layer names grouped by tower; `suffixes[0]` is '' (the base tower)."""

    suffixes: list[str]
    members: dict[str, list[str]]  # suffix → layer names in net order
    twins: list[tuple[str, str]]  # (base layer, twin layer)

    def tower_of(self, name: str) -> str | None:
        for suffix, names in self.members.items():
            if name in names:
                return suffix
        return None


def _between(layers, seeds: set[str]) -> set[str]:
    """Seeds plus layers that are both downstream and upstream of some seed (a tower's gaps)."""
    producers = defaultdict(set)
    for layer in layers:
        for top in layer.top:
            producers[top].add(layer.name)
    up = defaultdict(set)  # layer → layers feeding it
    for layer in layers:
        for bottom in layer.bottom:
            up[layer.name] |= producers[bottom] - {layer.name}

    def closure(start, edges):
        seen, todo = set(), list(start)
        while todo:
            for nxt in edges[todo.pop()]:
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        return seen

    down = defaultdict(set)
    for name, ups in up.items():
        for u in ups:
            down[u].add(name)
    return seeds | (closure(seeds, up) & closure(seeds, down))


def find_towers(layers, suffixes: Sequence[str] = TWIN_SUFFIXES) -> Towers | None:
    """Towers of a multi-tower net, found by twin names (conv1 / conv1_p / conv1_n); else None."""
    by_name = {layer.name: layer for layer in layers}
    found = [
        s
        for s in suffixes
        if any(n + s in by_name and by_name[n + s].type == by_name[n].type for n in by_name)
    ]
    if not found:
        return None
    # Twins form a chain (conv1–conv1_p–conv1_n) so that share edges join neighbouring towers.
    twins = []
    for n in by_name:
        if not any(n.endswith(x) for x in found):
            chain = [n] + [n + s for s in found if n + s in by_name]
            twins += list(zip(chain, chain[1:]))
    base = _between(layers, {a for a, _ in twins if a in by_name and not a.endswith(tuple(found))})
    members = {"": base}
    for s in found:
        members[s] = _between(layers, {n for n in by_name if n.endswith(s)}) - base
    order = [layer.name for layer in layers]
    return Towers(
        suffixes=[""] + found,
        twins=twins,
        members={s: [n for n in order if n in names] for s, names in members.items()},
    )


@dataclass
class Share:
    """A dashed edge: layers `a` and `b` share the params `names`; `problems` makes it red."""

    a: str
    b: str
    names: list[str]
    problems: list[str] = field(default_factory=list)


def _shape_key(layer, index: int, param_shapes) -> tuple:
    """What fixes the shape of blob `index` of `layer`: real shapes when known, else its config."""
    if param_shapes and layer.name in param_shapes and index < len(param_shapes[layer.name]):
        return tuple(param_shapes[layer.name][index])
    if layer.type not in SHAPE_FIELDS:
        return (layer.type,)
    msg = getattr(layer, PARAM_MESSAGE[layer.type])
    return (layer.type, index) + tuple(str(getattr(msg, f)) for f in SHAPE_FIELDS[layer.type])


def _lr_mult(spec) -> float:
    return spec.lr_mult if spec.HasField("lr_mult") else 1.0


def _param_uses(layers) -> dict[str, list[tuple[object, int]]]:
    """Param name → [(layer, blob index)] in net order."""
    uses = defaultdict(list)
    for layer in layers:
        for i, spec in enumerate(layer.param):
            if spec.name:
                uses[spec.name].append((layer, i))
    return uses


def param_problems(layers, towers: Towers | None, param_shapes=None) -> dict[str, str]:
    """{param name: problem}: shared with another shape or lr_mult, or (in a net of towers) not
    shared."""
    bad = {}
    for name, where in _param_uses(layers).items():
        if len({layer.name for layer, _ in where}) == 1 and towers is not None:
            bad[name] = "not shared"
        elif len({_shape_key(layer, i, param_shapes) for layer, i in where}) > 1:
            bad[name] = "shape differs"
        elif len({_lr_mult(layer.param[i]) for layer, i in where}) > 1:
            bad[name] = "lr_mult differs"
    return bad


def _sharing_pairs(layers, towers: Towers | None) -> list[tuple[str, str]]:
    """(layer, layer) pairs that should or do share: name twins, then any two using one param
    name."""
    pairs = list(towers.twins) if towers else []
    chain = {}  # layer → first layer of its twin chain (conv1_n → conv1)
    for a, b in pairs:
        chain[b] = chain.setdefault(a, a)
    # Sharing between layers that are not name twins (e.g. conv1_a / conv1_b) is drawn too.
    for where in _param_uses(layers).values():
        first = where[0][0].name
        pairs += [
            (first, layer.name)
            for layer, _ in where[1:]
            if layer.name != first and chain.get(layer.name, layer.name) != chain.get(first, first)
        ]
    return list(dict.fromkeys(pairs))


def find_shares(layers, towers: Towers | None, problems: dict[str, str]) -> list[Share]:
    """A Share per sharing pair, with the param names it shares and, from `problems`, what is
    wrong."""
    by_name = {layer.name: layer for layer in layers}
    shares = []
    for a, b in _sharing_pairs(layers, towers):
        names_a = [p.name for p in by_name[a].param]
        names_b = [p.name for p in by_name[b].param]
        common = [n for n in names_a if n and n in names_b]
        # A name on one side only; two unnamed blobs are a deliberate pseudo-siamese, not a slip.
        lonely = [n for n in names_a + names_b if n and n not in common]
        wrong = [
            f"{n}: {problems.get(n, 'not shared')}"
            for n in dict.fromkeys(common + lonely)
            if n in problems or n in lonely
        ]
        if common or wrong:
            shares.append(Share(a, b, common, wrong))
    return shares
