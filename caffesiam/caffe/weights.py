"""A .caffemodel read with caffe_pb2 and checked against a net's param shapes before pycaffe
loads it.

pycaffe's CopyTrainedLayersFrom aborts the whole process (CHECK / LOG(FATAL)) when a blob's
shape differs, so the mismatch is found here first and reported by layer name.
"""

import sys
from pathlib import Path

from google.protobuf.message import DecodeError

from caffesiam.caffe.proto import caffe_pb2
from caffesiam.caffe.shapes import LaunchCheck, Wrap, compute_shapes
from caffesiam.errors import ModelError
from caffesiam.files import read_file

Shapes = dict[str, list[list[int]]]


def blob_shape(blob) -> list[int]:
    """Dimensions of a BlobProto: `shape`, or the legacy num/channels/height/width."""
    if blob.HasField("shape"):
        return list(blob.shape.dim)
    return [blob.num, blob.channels, blob.height, blob.width]


def _layer_shapes(data: bytes) -> Shapes:
    """Param blob shapes by layer name, if `data` is a serialized NetParameter with weights."""
    net = caffe_pb2().NetParameter()
    try:
        net.ParseFromString(data)
    except DecodeError:
        return {}
    layers = list(net.layer) + list(net.layers)  # `layers`: V1 models
    return {layer.name: [blob_shape(b) for b in layer.blobs] for layer in layers if layer.blobs}


def shapes_from_bytes(data: bytes, source: str) -> Shapes:
    """Param blob shapes by layer name of a serialized NetParameter; ModelError if it is not one."""
    shapes = _layer_shapes(data)
    if shapes:
        return shapes
    _refuse_solverstate(data, source)
    raise ModelError(f"{source}: not a Caffe .caffemodel (no layer with weights in it)")


def _refuse_solverstate(data: bytes, source: str):
    """ModelError naming the .caffemodel to use when `data` is a SolverState (Caffe's snapshot
    pair)."""
    state = caffe_pb2().SolverState()
    try:
        state.ParseFromString(data)
    except DecodeError:
        return
    if state.history or state.learned_net:
        hint = f"; its weights are in {state.learned_net}" if state.learned_net else ""
        raise ModelError(
            f"{source}: this is a .solverstate (iteration {state.iter}), not a .caffemodel{hint}"
        )


def read_solverstate(path):
    """The SolverState of a binary .solverstate; ModelError for a .caffemodel, HDF5 or anything
    else."""
    data = read_file(path, ModelError, "solverstate", binary=True)
    if data.startswith(b"\x89HDF"):
        raise ModelError(
            f"{path}: HDF5 snapshots are not supported; resume from a binary .solverstate"
        )
    if _layer_shapes(data):
        raise ModelError(
            f"{path}: this is a .caffemodel (weights), not a .solverstate; give it to "
            f"--weights, or --resume the .solverstate saved beside it"
        )
    state = caffe_pb2().SolverState()
    try:
        state.ParseFromString(data)
    except DecodeError:
        state.Clear()
    if not (state.history or state.learned_net):
        raise ModelError(f"{path}: not a Caffe .solverstate")
    return state


def read_weights(path) -> Shapes:
    """Param blob shapes by layer name in a .caffemodel file."""
    path = Path(path)
    data = read_file(path, ModelError, "weights file", binary=True)
    if data.startswith(b"\x89HDF"):
        raise ModelError(f"{path}: HDF5 weights are not supported; use the binary .caffemodel")
    return shapes_from_bytes(data, str(path))


def check_weights_fit(
    net_params: Shapes, weights: Shapes, weights_name: str, fine_tune: bool = False
):
    """ModelError naming the first layer of the net whose weights are missing or shaped differently.

    Layers only in the weights (the `_p` tower, losses) are ignored, as Caffe ignores them. With
    `fine_tune` (Caffe's -weights and a resumed snapshot), a layer missing from the weights keeps
    its initialisation, but the weights must share at least one layer with the net.
    """
    if fine_tune and not set(net_params) & set(weights):
        raise ModelError(
            f"{weights_name} shares no layer name with the net, so Caffe would copy "
            f"nothing (it has: {', '.join(weights)})"
        )
    for layer, expected in net_params.items():
        found = weights.get(layer)
        if found is None and fine_tune:
            continue
        if found is None:
            raise ModelError(
                f"{weights_name} has no weights for layer '{layer}'; were they "
                f"trained with this model? (they have: {', '.join(weights)})"
            )
        if len(found) != len(expected) or not all(map(_same_shape, expected, found)):
            raise ModelError(
                f"weights do not match the model at layer '{layer}': the model "
                f"wants {_show(expected)}, {weights_name} has {_show(found)}"
            )


def check_weights_fit_net(
    net_path: Path,
    weights_path: Path,
    phase: str = "TEST",
    fine_tune: bool = False,
    cwd=None,
    python: str = sys.executable,
    wrap: Wrap | None = None,
    launch_failed: LaunchCheck | None = None,
):
    """ModelError unless the .caffemodel fits the net, whose param shapes Caffe computes in a
    child process in `phase` (a net Caffe cannot set up is a ModelError too, unless
    `launch_failed` says the launcher failed); `python`, `wrap` and `launch_failed` as in
    caffe.shapes.compute_shapes."""
    weights = read_weights(weights_path)
    blobs, params, why = compute_shapes(
        str(net_path), [phase], cwd=cwd, python=python, wrap=wrap, launch_failed=launch_failed
    )
    if blobs is None:
        raise ModelError(f"{net_path}: Caffe cannot set up this net: {why}")
    check_weights_fit(params, weights, Path(weights_path).name, fine_tune)


def _same_shape(expected: list[int], found: list[int]) -> bool:
    """Caffe's Blob::ShapeEquals: a legacy 4-D blob matches its shape padded with leading 1s."""
    if list(expected) == list(found):
        return True
    return (
        len(expected) <= 4
        and len(found) == 4
        and [1] * (4 - len(expected)) + list(expected) == list(found)
    )


def _show(shapes: list[list[int]]) -> str:
    return ", ".join("x".join(map(str, s)) for s in shapes)
