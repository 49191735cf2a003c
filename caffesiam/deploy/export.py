"""A deploy net and its .caffemodel -> an ONNX model of the tower, read with caffe_pb2 alone.

The core, `tower_to_onnx`, is pure: NetParameter + weights + metadata -> ModelProto, one
converter per layer type (deploy/layers.py). `export_tower` reads the files and writes the model
whole (nothing is written when a layer cannot be converted).
"""

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from google.protobuf.message import DecodeError

from caffesiam.caffe.netload import load_net
from caffesiam.caffe.proto import caffe_pb2
from caffesiam.caffe.weights import blob_shape, shapes_from_bytes
from caffesiam.deploy.graph import Graph
from caffesiam.deploy.layers import CONVERTERS
from caffesiam.deploy.metadata import TowerMetadata, metadata_props, read_evaluation
from caffesiam.errors import ExportError, ModelError
from caffesiam.evaluate.embedding import Preprocess
from caffesiam.evaluate.features import check_deploy_net
from caffesiam.evaluate.preprocess import margin_from_train_net, preprocess_from_train_net
from caffesiam.files import read_file, staged
from caffesiam.spec.tower import INPUT_SCALE

_TEST = 1  # caffe_pb2.Phase.TEST
_SKIPPED = {"Input", "Silence"}  # the graph input; a layer with no output


def read_weights(path) -> dict[str, list[np.ndarray]]:
    """float32 weight blobs by layer name, from a binary .caffemodel (current or V1 layers)."""
    data = read_file(path, ModelError, "caffemodel", binary=True)
    net = caffe_pb2().NetParameter()
    try:
        net.ParseFromString(data)
    except DecodeError as e:
        raise ModelError(f"{path}: not a Caffe .caffemodel (it does not parse)") from e
    weights = {
        layer.name: [_blob_array(b) for b in layer.blobs]
        for layer in [*net.layer, *net.layers]
        if layer.blobs
    }
    if not weights:
        shapes_from_bytes(data, str(path))  # names a solverstate, or says what it is not
    return weights


def _blob_array(blob) -> np.ndarray:
    values = np.asarray(blob.double_data or blob.data, dtype=np.float32)
    shape = blob_shape(blob)
    if not any(shape):  # a 0-D blob (PReLU's shared slope) is saved with no shape at all
        shape = [values.size]
    return values.reshape(shape)


def _in_test_phase(layer) -> bool:
    """Whether Caffe's TEST phase keeps `layer` (its include/exclude phase rules)."""
    if any(rule.HasField("phase") and rule.phase == _TEST for rule in layer.exclude):
        return False
    return not layer.include or any(
        not rule.HasField("phase") or rule.phase == _TEST for rule in layer.include
    )


def output_blobs(layers) -> list[str]:
    """The blobs no later layer reads: Caffe's net outputs (what pycaffe's net.outputs lists)."""
    available: list[str] = []
    for layer in layers:
        available = [b for b in available if b not in layer.bottom]
        available += [t for t in layer.top if t not in available]
    return available


def feature_blob(layers, blob: str | None, source: str) -> str:
    """`blob` if some layer makes it, else the net's single output, as evaluate and embed pick."""
    if blob:
        if not any(blob in layer.top for layer in layers):
            raise ModelError(f"{source}: no blob '{blob}'")
        return blob
    outputs = output_blobs(layers)
    if len(outputs) != 1:
        raise ModelError(
            f"{source}: {len(outputs)} output blobs ({', '.join(outputs) or 'none'}), expected "
            f"one; choose one with --blob"
        )
    return outputs[0]


def _input_layer(layers, source: str):
    inputs = [layer for layer in layers if layer.type == "Input"]
    if len(inputs) != 1 or len(inputs[0].top) != 1:
        raise ExportError(f"{source}: {len(inputs)} Input layers, expected one with one top")
    dims = list(inputs[0].input_param.shape[0].dim) if inputs[0].input_param.shape else []
    if len(dims) < 2:
        raise ExportError(f"{source}: the Input layer has no shape (N, C, H, W)")
    return inputs[0].top[0], dims


def tower_to_onnx(net, weights: dict, meta: TowerMetadata, source: str = "net") -> onnx.ModelProto:
    """The ONNX model of a deploy net up to `meta.feature_blob`, with a dynamic batch axis."""
    layers = [layer for layer in net.layer if _in_test_phase(layer)]
    input_name, input_shape = _input_layer(layers, source)
    g = Graph(input_name, input_shape)
    output = meta.feature_blob
    g.names.add(output)  # kept free for the graph's output
    for layer in layers:
        if layer.type in _SKIPPED:
            continue
        converter = CONVERTERS.get(layer.type)
        if converter is None:
            raise ExportError(
                f"layer '{layer.name}' ({layer.type}): no ONNX converter for this type; "
                f"supported: {', '.join(sorted(CONVERTERS))}"
            )
        bottoms = [g.blob(b, layer) for b in layer.bottom]
        blobs = list(weights.get(layer.name, []))
        for top, value in zip(layer.top, converter(g, layer, bottoms, blobs)):
            g.blobs[top] = value
    if g.blobs.get(output, input_name) == input_name:
        raise ExportError(f"{source}: no layer makes the feature blob '{output}'")
    _rename(g, g.blobs[output], output)
    _prune(g, output)
    model = g.model([output])
    onnx.helper.set_model_props(model, metadata_props(meta))
    return model


def _rename(g: Graph, old: str, new: str):
    """Call the value `old` `new` wherever a node makes or reads it."""
    for node in g.nodes:
        node.input[:] = [new if name == old else name for name in node.input]
        node.output[:] = [new if name == old else name for name in node.output]


def _prune(g: Graph, output: str):
    """Drop the nodes and weights that `output` does not depend on (layers after it)."""
    needed, kept = {output}, []
    for node in reversed(g.nodes):
        if needed & set(node.output):
            kept.append(node)
            needed |= set(node.input)
    g.nodes = kept[::-1]
    g.weights = [w for w in g.weights if w.name in needed]


def loss_of_train_net(path) -> tuple[str | None, float | None]:
    """(loss kind, margin) of a train net that caffesiam's gen-net made, or (None, None)."""
    layers = {layer.name: layer for layer in load_net(path).layer}
    for layer in layers.values():
        if layer.type == "ContrastiveLoss":
            legacy = layer.contrastive_loss_param.legacy_version
            return ("contrastive-legacy" if legacy else "contrastive"), margin_from_train_net(path)
    if "loss_gap_margin" in layers:  # net/losses.py: triplet's margin is this Power's shift
        return "triplet", layers["loss_gap_margin"].power_param.shift
    if "loss_different_exp" in layers:
        return "chopra2005", None
    return None, None


def gather_metadata(blob: str, train_net=None, evaluation=None) -> TowerMetadata:
    """The TowerMetadata from the train net (scale, mean, loss) and an evaluate --json report."""
    prep = preprocess_from_train_net(train_net) if train_net else Preprocess(INPUT_SCALE)
    loss, margin = loss_of_train_net(train_net) if train_net else (None, None)
    held = read_evaluation(evaluation) if evaluation else None
    return TowerMetadata(
        input_scale=float(prep.scale),
        input_mean=tuple(float(m) for m in prep.mean),
        input_source=prep.source if train_net else "default (1/256); no --train-net given",
        feature_blob=blob,
        loss=loss,
        margin=margin,
        threshold=held.threshold if held else None,
        threshold_accuracy=held.accuracy if held else None,
        threshold_source=str(evaluation) if held else None,
    )


@dataclass
class Exported:
    """What export_tower wrote: the model, its input, its metadata and its size in nodes."""

    path: Path
    input_name: str
    input_shape: tuple
    meta: TowerMetadata
    nodes: int


def export_tower(deploy, weights, output, train_net=None, evaluation=None, blob=None) -> Exported:
    """Convert `deploy` with `weights` and write the ONNX model to `output` atomically."""
    check_deploy_net(deploy)
    net = load_net(deploy)
    layers = [layer for layer in net.layer if _in_test_phase(layer)]
    meta = gather_metadata(feature_blob(layers, blob, str(deploy)), train_net, evaluation)
    model = tower_to_onnx(net, read_weights(weights), meta, str(deploy))
    with staged() as stage:
        stage(output).write_bytes(model.SerializeToString())
    input_name, input_shape = _input_layer(layers, str(deploy))
    return Exported(Path(output), input_name, tuple(input_shape[1:]), meta, len(model.graph.node))
