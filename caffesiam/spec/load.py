"""A YAML spec or a single-tower prototxt -> a validated Tower.

The YAML mirrors Caffe's LayerParameter (see templates/lenet.yaml). Layers are sequential by
default: `bottom` defaults to the previous layer's top, `top` to the layer's name, and
activation-like layers (ReLU, Dropout, BatchNorm, Scale, ...) default to in place.
"""

import math
from dataclasses import replace
from pathlib import Path

from caffesiam.caffe.proto import caffe_pb2, parse_text
from caffesiam.data.backends import BACKENDS
from caffesiam.errors import SpecError
from caffesiam.files import input_name, read_text_input
from caffesiam.limits import INT32_MAX
from caffesiam.spec.names import INPUT_BLOB, RESERVED, TWIN_SUFFIX
from caffesiam.spec.params import param_count
from caffesiam.spec.pbdict import (
    ValueBudget,
    fill_message,
    first_unknown,
    is_utf8_text,
    line_of,
    short_repr,
)
from caffesiam.spec.tower import LOSSES, DataSpec, LossSpec, Tower, resolve_loss
from caffesiam.spec.yamlload import load_yaml

IN_PLACE_BY_DEFAULT = frozenset(
    {
        "ReLU",
        "PReLU",
        "ELU",
        "Sigmoid",
        "TanH",
        "AbsVal",
        "BNLL",
        "Dropout",
        "BatchNorm",
        "Scale",
        "Power",
        "Threshold",
    }
)
PROTOTXT_SUFFIXES = (".prototxt", ".pt", ".txt")
YAML_SUFFIXES = (".yaml", ".yml")
INPUT_TYPES = frozenset({"Input", "Data", "DummyData", "ImageData", "MemoryData", "HDF5Data"})

_DATA_KEYS = {f for f in DataSpec.__dataclass_fields__}
_LOSS_KEYS = {"type", "margin", "legacy_version", "q"}
_TOP_KEYS = {"name", "data", "loss", "tower"}


def load_tower(path, layer_types: frozenset[str] | None = None) -> Tower:
    """Read a YAML spec or a single-tower prototxt into a Tower: a file, or a pipe ('-' for
    stdin). Which of the two it is: by extension, else (a pipe has none) by its text."""
    text = read_text_input(path, SpecError, "spec file")
    source = input_name(path)
    suffix = Path(source).suffix
    if suffix in PROTOTXT_SUFFIXES or (suffix not in YAML_SUFFIXES and _is_net_text(text)):
        return tower_from_prototxt(text, source, layer_types)
    return tower_from_yaml(text, source, layer_types)


def _is_net_text(text: str) -> bool:
    """True when `text` is a net prototxt with an input or a layer (never a YAML spec: its
    `tower` is no NetParameter field)."""
    try:
        net = parse_text(text, caffe_pb2().NetParameter())
    except SpecError:
        return False
    return bool(net.layer or net.input)


def tower_from_yaml(text: str, source: str, layer_types=None) -> Tower:
    doc = load_yaml(text, source)
    if not isinstance(doc, dict) or not doc:
        raise SpecError(
            f"{source}: the spec must be a non-empty YAML mapping with a 'tower' list of layers"
        )
    _no_unknown_keys(doc, _TOP_KEYS, "spec", source)
    layers_doc = doc.get("tower")
    if not isinstance(layers_doc, list) or not layers_doc:
        raise SpecError(
            f"{source}:{line_of(doc, 'tower')}: 'tower' must be a non-empty list of layers"
        )
    pb = caffe_pb2()
    layers = []
    previous_top = INPUT_BLOB
    budget = ValueBudget()
    for i, item in enumerate(layers_doc):
        where = _label(f"tower[{i}]", item.get("name") if isinstance(item, dict) else None)
        layer = fill_message(item, pb.LayerParameter(), where, source, budget)
        if not layer.bottom:
            layer.bottom.append(previous_top)
        if not layer.top:
            in_place = layer.type in IN_PLACE_BY_DEFAULT and len(layer.bottom) == 1
            layer.top.append(layer.bottom[0] if in_place else layer.name)
        previous_top = layer.top[0]
        layers.append(layer)
    name = doc.get("name", Path(source).stem)
    if not isinstance(name, (str, int)) or isinstance(name, bool) or not is_utf8_text(str(name)):
        raise SpecError(
            f"{source}:{line_of(doc, 'name')}: name: expected a string, got {short_repr(name)}"
        )
    tower = Tower(
        name=str(name),
        layers=layers,
        data=_data_spec(doc.get("data", {}), source),
        loss=_loss_spec(doc.get("loss", {}), source),
    )
    validate(
        tower,
        source,
        layer_types,
        lines=[line_of(item) for item in layers_doc],
        labels=[f"tower[{i}]" for i in range(len(layers))],
    )
    return tower


def _label(position: str, name) -> str:
    """How an error names a layer: its place in the file, and its name when it has one."""
    return f"{position} ({name[:60]})" if isinstance(name, str) and name else position


def _no_unknown_keys(mapping, allowed, where, source):
    key = first_unknown(mapping, allowed)
    if key is not None:
        raise SpecError(
            f"{source}:{line_of(mapping, key)}: {where}: unknown key '{key}' "
            f"(expected one of {', '.join(sorted(allowed))})"
        )


def _check_section(doc, name: str, keys, source):
    """SpecError unless the spec's `name` section is a mapping of known keys."""
    if not isinstance(doc, dict):
        raise SpecError(f"{source}: '{name}' must be a mapping")
    _no_unknown_keys(doc, keys, name, source)


def _data_spec(doc, source) -> DataSpec:
    _check_section(doc, "data", _DATA_KEYS, source)
    spec = DataSpec(**doc)
    for key, default in DataSpec().__dict__.items():
        value = getattr(spec, key)
        if isinstance(default, str):
            fits, expected = isinstance(value, str) and is_utf8_text(value), "a string"
        elif isinstance(default, int):
            fits = (
                isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= INT32_MAX
            )
            expected = f"an integer from 1 to {INT32_MAX}"
        else:
            fits, expected = is_finite_number(value) and value > 0, "a finite number > 0"
        if not fits:
            raise SpecError(
                f"{source}:{line_of(doc, key)}: data.{key}: expected {expected}, "
                f"got {short_repr(value)}"
            )
    if spec.backend not in BACKENDS:
        raise SpecError(
            f"{source}:{line_of(doc, 'backend')}: data.backend must be {' or '.join(BACKENDS)}"
        )
    return spec


def _loss_spec(doc, source) -> LossSpec:
    _check_section(doc, "loss", _LOSS_KEYS, source)
    kind = resolve_loss(LossSpec(), doc.get("type"), legacy=doc.get("legacy_version")).kind
    margin = doc.get("margin", 1.0)
    if kind not in LOSSES:
        raise SpecError(
            f"{source}:{line_of(doc, 'type')}: loss.type must be one of {', '.join(LOSSES)}"
        )
    if not is_finite_number(margin) or margin < 0:
        raise SpecError(
            f"{source}:{line_of(doc, 'margin')}: loss.margin must be a finite number >= 0"
        )
    q = doc.get("q", LossSpec.q)
    if not is_finite_number(q) or not q > 0:
        raise SpecError(f"{source}:{line_of(doc, 'q')}: loss.q must be a finite number > 0")
    return LossSpec(kind=kind, margin=float(margin), q=float(q))


def is_finite_number(value) -> bool:
    """An int or float that is finite as a float (YAML gives .inf, .nan and ints of any size)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def tower_from_prototxt(text: str, source: str, layer_types=None) -> Tower:
    """A deploy-style net (Input layer or `input:` fields); its input becomes the pair data."""
    pb = caffe_pb2()
    net = parse_text(text, pb.NetParameter(), source)
    input_blob, dims = _single_input(net, source)
    layers, labels = [], []
    for k, layer in enumerate(net.layer):
        if layer.type in INPUT_TYPES:
            continue
        copy = pb.LayerParameter()
        copy.CopyFrom(layer)
        _rename_blobs(copy, {input_blob: INPUT_BLOB})
        layers.append(copy)
        labels.append(f"layer[{k}]")
    if not layers:
        raise SpecError(f"{source}: the net has no layers besides its input")
    data = DataSpec()
    if len(dims) == 4:
        data = replace(data, channels=int(dims[1]), height=int(dims[2]), width=int(dims[3]))
    tower = Tower(name=net.name or Path(source).stem, layers=layers, data=data)
    validate(tower, source, layer_types, labels=labels)
    return tower


def _single_input(net, source: str) -> tuple[str, list[int]]:
    """(blob, dims) of the net's one input (an input layer or `input:` fields)."""
    inputs = net_inputs(net, source)
    if len(inputs) != 1 or len(net.input) > 1:
        raise SpecError(
            f"{source}: expected exactly one input (an Input layer or 'input:'), "
            f"found {len(inputs)}"
        )
    return inputs[0]


def net_inputs(net, source: str) -> list[tuple[str, list[int]]]:
    """(blob, dims) of each input of a net (`input:` fields, input layers), each checked to have
    a blob and a shape of positive dimensions."""
    inputs = []
    if net.input:
        dims = list(net.input_shape[0].dim) if net.input_shape else list(net.input_dim[:4])
        _check_input_dims(dims, "input_shape.dim" if net.input_shape else "input_dim", source)
        inputs.append((net.input[0], dims))
    for k, layer in enumerate(net.layer):
        if layer.type not in INPUT_TYPES:
            continue
        where = f"layer '{layer.name}'" if layer.name else f"layer[{k}]"
        if not layer.top:
            raise SpecError(f"{source}: {where} ({layer.type}): no top; the input needs a blob")
        shape = layer.input_param.shape
        dims = list(shape[0].dim) if shape else []
        _check_input_dims(dims, f"{where}: input_param.shape.dim", source)
        inputs.append((layer.top[0], dims))
    return inputs


def _check_input_dims(dims, field: str, source: str):
    """SpecError naming the first dimension in `field` outside 1..INT32_MAX (the bounds a YAML
    spec's data.channels, height and width have)."""
    for i, dim in enumerate(dims):
        if not 1 <= dim <= INT32_MAX:
            raise SpecError(
                f"{source}: {field}[{i}] is {dim}; every dimension must be an integer "
                f"from 1 to {INT32_MAX}"
            )


def _rename_blobs(layer, mapping):
    for blobs in (layer.bottom, layer.top):
        for i, blob in enumerate(blobs):
            blobs[i] = mapping.get(blob, blob)


def validate(tower: Tower, source: str, layer_types=None, lines=None, labels=None):
    """Checks that make a tower safe to twin, for a YAML spec and a prototxt alike: names, types,
    tops and bottoms of every layer, learnable layers. `lines` and `labels` say where each layer
    is in the file (a YAML line; its place, as tower[i] or layer[k])."""

    def fail(i, message):
        line = lines[i] if lines and lines[i] else None
        raise SpecError(f"{source}:{line}: {message}" if line else f"{source}: {message}")

    seen, produced = set(), {INPUT_BLOB}
    for i, layer in enumerate(tower.layers):
        if not layer.name or not layer.type:
            label = _label(labels[i] if labels else f"layer {i + 1}", layer.name)
            fail(i, f"{label}: every layer needs a name and a type")
        if layer_types is not None and layer.type not in layer_types:
            fail(
                i,
                f"layer '{layer.name}': unknown layer type '{layer.type}' "
                f"(not in this Caffe's layer registry)",
            )
        if layer.name in seen:
            fail(i, f"duplicate layer name '{layer.name}'")
        seen.add(layer.name)
        if not layer.top:
            fail(i, f"layer '{layer.name}': no top; every tower layer makes a blob")
        for field in ("bottom", "top"):
            if "" in getattr(layer, field):
                fail(i, f"layer '{layer.name}': an empty {field} name")
        for bottom in layer.bottom:
            if bottom not in produced:
                fail(i, f"layer '{layer.name}': bottom '{bottom}' is produced by no earlier layer")
        produced.update(layer.top)
    names = seen | produced
    for name in sorted(names):
        if name in RESERVED:
            raise SpecError(f"{source}: the name '{name}' is reserved for the siamese wrapper")
        if name + TWIN_SUFFIX in names:
            raise SpecError(
                f"{source}: '{name}{TWIN_SUFFIX}' already exists, so the twin of "
                f"'{name}' would collide; rename it"
            )
    if not any(param_count(layer) for layer in tower.layers):
        raise SpecError(f"{source}: the tower has no learnable layer, so there is nothing to share")
