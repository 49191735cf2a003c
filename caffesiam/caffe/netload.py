"""Any net prototxt (current, V1 `layers`, `input:` fields) → a current NetParameter.

Mirrors the parts of Caffe's upgrade_proto.cpp that matter for reading a net's structure
(UpgradeV1Net, UpgradeNetInput), so callers see only `layer` entries. A solver passed in
place of a net is recognised and named.
"""

from caffesiam.caffe.proto import caffe_pb2, parse_text
from caffesiam.errors import SpecError
from caffesiam.files import read_file

# V1 LayerType names whose current type string is not the plain CamelCase of the enum name
# (UpgradeV1LayerType in upgrade_proto.cpp).
_V1_TYPE_EXCEPTIONS = {
    "NONE": "",
    "ABSVAL": "AbsVal",
    "ARGMAX": "ArgMax",
    "BNLL": "BNLL",
    "HDF5_DATA": "HDF5Data",
    "HDF5_OUTPUT": "HDF5Output",
    "IM2COL": "Im2col",
    "LRN": "LRN",
    "MVN": "MVN",
    "RELU": "ReLU",
    "TANH": "TanH",
    "SOFTMAX_LOSS": "SoftmaxWithLoss",
}
_SOLVER_NET_FIELDS = ("net", "train_net", "test_net")


def v1_type_name(enum_name: str) -> str:
    """The layer type string of a V1 LayerType enum name (CONTRASTIVE_LOSS → ContrastiveLoss)."""
    if enum_name in _V1_TYPE_EXCEPTIONS:
        return _V1_TYPE_EXCEPTIONS[enum_name]
    return "".join(part.capitalize() for part in enum_name.split("_"))


def upgrade_v1_layer(v1):
    """A LayerParameter equivalent to a V1LayerParameter (UpgradeV1LayerParameter)."""
    pb = caffe_pb2()
    layer = pb.LayerParameter(
        name=v1.name, bottom=v1.bottom, top=v1.top, loss_weight=v1.loss_weight
    )
    layer.type = v1_type_name(pb.V1LayerParameter.LayerType.Name(v1.type))
    layer.include.extend(v1.include)
    layer.exclude.extend(v1.exclude)
    n_params = max(len(v1.param), len(v1.blobs_lr), len(v1.weight_decay))
    for i in range(n_params):
        spec = layer.param.add()
        if i < len(v1.param):
            spec.name = v1.param[i]
        if i < len(v1.blobs_lr):
            spec.lr_mult = v1.blobs_lr[i]
        if i < len(v1.weight_decay):
            spec.decay_mult = v1.weight_decay[i]
    # The *_param sub-messages keep their names and types between V1 and current layers.
    current = layer.DESCRIPTOR.fields_by_name
    for field, value in v1.ListFields():
        same = current.get(field.name)
        if (
            field.name.endswith("_param")
            and same is not None
            and same.message_type is field.message_type
        ):
            getattr(layer, field.name).CopyFrom(value)
    return layer


def upgrade_net(net):
    """`net` with V1 `layers` and `input:` fields turned into current `layer` entries, in place."""
    pb = caffe_pb2()
    layers = [upgrade_v1_layer(v1) for v1 in net.layers] + list(net.layer)
    if net.input:
        inputs = pb.LayerParameter(name="input", type="Input", top=net.input)
        for i, _ in enumerate(net.input):
            shape = inputs.input_param.shape.add()
            if i < len(net.input_shape):
                shape.CopyFrom(net.input_shape[i])
            else:
                shape.dim.extend(net.input_dim[4 * i : 4 * i + 4])
        layers.insert(0, inputs)
    for field in ("layers", "layer", "input", "input_shape", "input_dim"):
        net.ClearField(field)
    net.layer.extend(layers)
    return net


def _solver_net(text: str):
    """The net file a solver's text names, '' for an inline net, None if it is not a solver."""
    try:
        solver = parse_text(text, caffe_pb2().SolverParameter())
    except SpecError:
        return None
    for field in _SOLVER_NET_FIELDS:
        value = getattr(solver, field)
        if value:
            return value if isinstance(value, str) else value[0]
    if solver.HasField("net_param") or solver.HasField("train_net_param") or solver.test_net_param:
        return ""
    return None


def parse_net(text: str, source: str = "<text>"):
    """A current NetParameter from prototxt text; a solver gets an error naming its net."""
    net = caffe_pb2().NetParameter()
    try:
        parse_text(text, net, source)
    except SpecError:
        refers = _solver_net(text)
        if refers is None:
            raise
        hint = (
            f"it refers to the net file '{refers}'; draw that file instead"
            if refers
            else "its net is inline (net_param); copy that into a net prototxt to draw it"
        )
        raise SpecError(f"{source}: this is a solver, not a net; {hint}") from None
    upgrade_net(net)
    if not net.layer:
        raise SpecError(f"{source}: no layers in this net")
    return net


def load_net(path):
    """Read any net prototxt file into a current NetParameter."""
    return parse_net(read_file(path, SpecError), str(path))
