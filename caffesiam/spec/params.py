"""Learnable blobs by layer type: their roles (w, b, ...), which message configures them, and
which of its fields fix their shape. A leaf module: spec validation and the net builder share it.
"""

from collections import Counter

# The message holding bias_term and the output size, for layers with a weight and an optional bias.
PARAM_MESSAGE = {
    "Convolution": "convolution_param",
    "Deconvolution": "convolution_param",
    "InnerProduct": "inner_product_param",
    "Embed": "embed_param",
}
# Fields of PARAM_MESSAGE that fix the shape of the learnable blobs, by layer type.
_CONV_SHAPE = ("num_output", "kernel_size", "kernel_h", "kernel_w", "group", "bias_term")
SHAPE_FIELDS = {
    "Convolution": _CONV_SHAPE,
    "Deconvolution": _CONV_SHAPE,
    "InnerProduct": ("num_output", "bias_term", "axis", "transpose"),
    "Embed": ("num_output", "input_dim", "bias_term"),
}


def param_roles(layer) -> list[str]:
    """Names of the learnable blobs of `layer`, in Caffe's blob order (empty without weights)."""
    kind = layer.type
    if kind in PARAM_MESSAGE:
        bias = getattr(layer, PARAM_MESSAGE[kind]).bias_term
        return ["w", "b"] if bias else ["w"]
    if kind == "BatchNorm":
        return ["mean", "var", "factor"]
    if kind == "Scale":
        roles = [] if len(layer.bottom) > 1 else ["w"]
        return roles + (["b"] if layer.scale_param.bias_term else [])
    if kind == "Bias":
        return [] if len(layer.bottom) > 1 else ["b"]
    if kind == "PReLU":
        return ["slope"]
    return [str(i) for i in range(len(layer.param))]


def param_count(layer) -> int:
    return len(param_roles(layer))


def shared_param_names(net) -> dict[str, int]:
    """Param names used by more than one layer, with how often each is used."""
    counts = Counter(spec.name for layer in net.layer for spec in layer.param if spec.name)
    return {name: n for name, n in counts.items() if n > 1}
