"""One converter per Caffe layer type: (graph, layer, bottom values, weights) -> top values.

Each mirrors the Forward_cpu of its Caffe layer, including where Caffe and ONNX differ:
pooling rounds its output size up and divides by a window clipped to the padded input,
BatchNorm stores its statistics times a moving-average factor, Power is (shift + scale x)^power.
"""

import math

import numpy as np

from caffesiam.deploy.graph import Graph
from caffesiam.errors import ExportError


def _refuse(layer, why: str):
    raise ExportError(f"layer '{layer.name}' ({layer.type}): {why}")


def _expect_blobs(layer, blobs, *counts):
    if len(blobs) not in counts:
        want = " or ".join(map(str, counts))
        _refuse(layer, f"has {len(blobs)} weight blobs in the .caffemodel, expected {want}")


def _axis(layer, axis: int, rank: int) -> int:
    """A Caffe axis (negative counts from the end) as a non-negative index."""
    if not -rank <= axis < rank:
        _refuse(layer, f"axis {axis} is out of range for a {rank}-D input")
    return axis % rank


def _pair(layer, repeated, single_h, single_w, has_h: bool, default: int) -> tuple[int, int]:
    """(h, w) of a Caffe kernel/pad/stride/dilation: the _h/_w fields, else the repeated one."""
    if has_h:
        return single_h, single_w
    values = list(repeated) or [default]
    if len(values) > 2:
        _refuse(layer, "only 2-D convolution and pooling are supported")
    return (values[0], values[-1])


def _broadcastable(g: Graph, layer, value: str, axis: int, rank: int, hint: str) -> str:
    """`value` of shape S, unsqueezed so that S lines up with axes axis.. of a rank-D input."""
    trailing = rank - axis - len(g.shape(value))
    if trailing < 0:
        _refuse(layer, "the second bottom has more axes than fit after the axis")
    if trailing == 0:
        return value
    axes = g.const(f"{hint}_axes", list(range(rank - trailing, rank)))
    return g.op("Unsqueeze", [value, axes], hint)


def _param_shaped(g: Graph, layer, array, axis: int, rank: int, hint: str) -> str:
    """A weight blob for axes axis.. of a rank-D input, with trailing 1s for broadcasting."""
    array = np.asarray(array)
    array = array.reshape(array.shape + (1,) * (rank - axis - array.ndim))
    return g.const(hint, array)


def _scale_axes(g, layer, param, bottom):
    rank = len(g.shape(bottom))
    return _axis(layer, param.axis, rank), rank


def convolution(g: Graph, layer, bottoms, blobs):
    p = layer.convolution_param
    _expect_blobs(layer, blobs, 1 + p.bias_term)
    if p.axis != 1:
        _refuse(layer, "convolution along an axis other than 1")
    kernel = _pair(layer, p.kernel_size, p.kernel_h, p.kernel_w, p.HasField("kernel_h"), 0)
    pad = _pair(layer, p.pad, p.pad_h, p.pad_w, p.HasField("pad_h"), 0)
    stride = _pair(layer, p.stride, p.stride_h, p.stride_w, p.HasField("stride_h"), 1)
    dilation = _pair(layer, p.dilation, 1, 1, False, 1)
    weight = blobs[0].reshape(p.num_output, -1, *kernel)
    inputs = [bottoms[0], g.const(f"{layer.name}_w", weight)]
    if p.bias_term:
        inputs.append(g.const(f"{layer.name}_b", blobs[1].reshape(-1)))
    top = g.op(
        "Conv",
        inputs,
        layer.top[0],
        kernel_shape=list(kernel),
        pads=[pad[0], pad[1], pad[0], pad[1]],
        strides=list(stride),
        dilations=list(dilation),
        group=p.group,
    )
    return [top]


def caffe_pooled_size(size: int, kernel: int, pad: int, stride: int, ceil: bool) -> int:
    """Caffe's pooled output length (PoolingLayer::Reshape): rounded up by default, and with
    padding never starting a window in the padding."""
    rounding = math.ceil if ceil else math.floor
    pooled = int(rounding(np.float32(size + 2 * pad - kernel) / np.float32(stride))) + 1
    if pad and (pooled - 1) * stride >= size + pad:
        pooled -= 1
    return pooled


def caffe_average_divisors(size: int, kernel: int, pad: int, stride: int, pooled: int):
    """How many positions Caffe's AVE pooling divides each output by, along one axis: the
    window clipped to the input padded on both sides (PoolingLayer::Forward_cpu)."""
    starts = np.arange(pooled) * stride - pad
    return np.minimum(starts + kernel, size + pad) - starts


def pooling(g: Graph, layer, bottoms, blobs):
    p = layer.pooling_param
    pool = p.PoolMethod.Name(p.pool)
    if pool not in ("MAX", "AVE"):
        _refuse(layer, f"{pool} pooling has no ONNX equivalent")
    if len(layer.top) > 1:
        _refuse(layer, "a second top (the argmax mask) is not supported")
    shape = g.shape(bottoms[0])
    if len(shape) != 4:
        _refuse(layer, f"pooling of a {len(shape)}-D input; Caffe pools 4-D blobs")
    if p.global_pooling:
        op = "GlobalMaxPool" if pool == "MAX" else "GlobalAveragePool"
        return [g.op(op, bottoms, layer.top[0])]
    kernel = _pair(
        layer,
        [p.kernel_size] * p.HasField("kernel_size"),
        p.kernel_h,
        p.kernel_w,
        p.HasField("kernel_h"),
        0,
    )
    pad = _pair(layer, [p.pad], p.pad_h, p.pad_w, p.HasField("pad_h"), 0)
    stride = _pair(layer, [p.stride], p.stride_h, p.stride_w, p.HasField("stride_h"), 1)
    ceil = p.round_mode == p.CEIL
    sizes = shape[2:]
    pooled = [caffe_pooled_size(n, k, q, s, ceil) for n, k, q, s in zip(sizes, kernel, pad, stride)]
    if any((o - 1) * s - q >= n for o, s, q, n in zip(pooled, stride, pad, sizes)):
        _refuse(layer, "its last window lies wholly outside the input (stride above kernel)")
    # ONNX floors, so the end padding is what makes the last Caffe window fit exactly
    end = [
        max((o - 1) * s + k - n - q, 0) for o, s, k, n, q in zip(pooled, stride, kernel, sizes, pad)
    ]
    value, pads = bottoms[0], [*pad, *end]
    if max(pads[:2]) >= min(kernel) or max(pads[2:]) >= min(kernel):  # ONNX wants pad < kernel
        fill = np.finfo(np.float32).min if pool == "MAX" else 0.0
        spatial = g.const(f"{layer.name}_pads", [0, 0, *pad, 0, 0, *end])
        value = g.op(
            "Pad", [value, spatial, g.const(f"{layer.name}_fill", fill)], f"{layer.name}_padded"
        )
        pads = [0] * 4
    attributes = dict(kernel_shape=list(kernel), pads=pads, strides=list(stride))
    if pool == "MAX":
        return [g.op("MaxPool", [value], layer.top[0], **attributes)]
    divisors = np.outer(
        *(
            caffe_average_divisors(n, k, q, s, o)
            for n, k, q, s, o in zip(sizes, kernel, pad, stride, pooled)
        )
    )
    window = kernel[0] * kernel[1]
    if (divisors == window).all():
        return [g.op("AveragePool", [value], layer.top[0], count_include_pad=1, **attributes)]
    mean = g.op("AveragePool", [value], f"{layer.name}_mean", count_include_pad=1, **attributes)
    correction = g.const(f"{layer.name}_window", (window / divisors).astype(np.float32))
    return [g.op("Mul", [mean, correction], layer.top[0])]


def inner_product(g: Graph, layer, bottoms, blobs):
    p = layer.inner_product_param
    _expect_blobs(layer, blobs, 1 + p.bias_term)
    weight = (
        blobs[0].reshape(-1, p.num_output) if p.transpose else blobs[0].reshape(p.num_output, -1)
    )
    rank = len(g.shape(bottoms[0]))
    axis = _axis(layer, p.axis, rank)
    if axis == 0:
        _refuse(layer, "axis 0 would mix the images of a batch")
    inputs = [g.const(f"{layer.name}_w", weight)]
    if p.bias_term:
        inputs.append(g.const(f"{layer.name}_b", blobs[1].reshape(-1)))
    if axis == 1:
        flat = g.op("Flatten", bottoms, f"{layer.name}_flat", axis=1)
        return [g.op("Gemm", [flat, *inputs], layer.top[0], transB=0 if p.transpose else 1)]
    # axis > 1: one row per position before the axis, then those axes back (OpenCV 5 runs
    # Gemm on 2-D input only)
    rows = g.const(f"{layer.name}_rows", [-1, weight.shape[0 if p.transpose else 1]])
    flat = g.op("Reshape", [bottoms[0], rows], f"{layer.name}_flat")
    product = g.op("Gemm", [flat, *inputs], f"{layer.name}_rows", transB=0 if p.transpose else 1)
    shape = g.shape(bottoms[0])
    unfolded = g.const(f"{layer.name}_shape", [-1, *shape[1:axis], p.num_output])
    return [g.op("Reshape", [product, unfolded], layer.top[0])]


def relu(g: Graph, layer, bottoms, blobs):
    slope = layer.relu_param.negative_slope
    if slope:
        return [g.op("LeakyRelu", bottoms, layer.top[0], alpha=slope)]
    return [g.op("Relu", bottoms, layer.top[0])]


def prelu(g: Graph, layer, bottoms, blobs):
    _expect_blobs(layer, blobs, 1)
    rank = len(g.shape(bottoms[0]))
    slope = blobs[0].reshape(-1)
    if not layer.prelu_param.channel_shared:
        slope = slope.reshape((-1,) + (1,) * (rank - 2))
    return [g.op("PRelu", [bottoms[0], g.const(f"{layer.name}_slope", slope)], layer.top[0])]


def _unary(op_type: str, **fixed):
    def convert(g: Graph, layer, bottoms, blobs):
        return [g.op(op_type, bottoms, layer.top[0], **fixed)]

    return convert


def elu(g: Graph, layer, bottoms, blobs):
    return [g.op("Elu", bottoms, layer.top[0], alpha=layer.elu_param.alpha)]


def _affine(g: Graph, layer, value: str, scale: float, shift: float) -> str:
    """shift + scale * value, leaving out a multiply by 1 and an add of 0."""
    if scale != 1:
        value = g.op("Mul", [value, g.const(f"{layer.name}_scale", scale)], f"{layer.name}_scaled")
    if shift != 0:
        value = g.op("Add", [value, g.const(f"{layer.name}_shift", shift)], f"{layer.name}_shifted")
    return value


def power(g: Graph, layer, bottoms, blobs):
    p = layer.power_param
    if p.power * p.scale == 0:  # PowerLayer::Forward_cpu fills a constant
        value = 1.0 if p.power == 0 else p.shift**p.power
        zero = g.op("Mul", [bottoms[0], g.const(f"{layer.name}_zero", 0.0)], f"{layer.name}_zero")
        return [g.op("Add", [zero, g.const(f"{layer.name}_value", value)], layer.top[0])]
    base = _affine(g, layer, bottoms[0], p.scale, p.shift)
    if p.power == 1:
        return [g.op("Identity", [base], layer.top[0])]
    return [g.op("Pow", [base, g.const(f"{layer.name}_power", p.power)], layer.top[0])]


def _log_base(layer, base: float) -> float:
    if base == -1:
        return 1.0
    if base <= 0:
        _refuse(layer, f"base {base} must be -1 (e) or positive")
    return math.log(base)


def exp(g: Graph, layer, bottoms, blobs):
    p = layer.exp_param
    log_base = _log_base(layer, p.base)
    inner = _affine(g, layer, bottoms[0], log_base * p.scale, 0)
    outer = 1.0 if p.shift == 0 else math.exp(log_base * p.shift)
    top = g.op("Exp", [inner], layer.top[0] if outer == 1 else f"{layer.name}_exp")
    if outer == 1:
        return [top]
    return [g.op("Mul", [top, g.const(f"{layer.name}_outer", outer)], layer.top[0])]


def log(g: Graph, layer, bottoms, blobs):
    p = layer.log_param
    inner = _affine(g, layer, bottoms[0], p.scale, p.shift)
    log_base = _log_base(layer, p.base)
    if log_base == 1:
        return [g.op("Log", [inner], layer.top[0])]
    natural = g.op("Log", [inner], f"{layer.name}_ln")
    return [g.op("Mul", [natural, g.const(f"{layer.name}_base", 1 / log_base)], layer.top[0])]


def batch_norm(g: Graph, layer, bottoms, blobs):
    p = layer.batch_norm_param
    if p.HasField("use_global_stats") and not p.use_global_stats:
        _refuse(layer, "use_global_stats: false normalizes by each batch's own statistics")
    _expect_blobs(layer, blobs, 3)
    factor = float(blobs[2].reshape(-1)[0])
    factor = 0.0 if factor == 0 else 1 / factor  # BatchNormLayer::Forward_cpu
    mean = (blobs[0].reshape(-1) * np.float32(factor)).astype(np.float32)
    var = (blobs[1].reshape(-1) * np.float32(factor)).astype(np.float32)
    inputs = [
        bottoms[0],
        g.const(f"{layer.name}_gamma", np.ones_like(mean)),
        g.const(f"{layer.name}_beta", np.zeros_like(mean)),
        g.const(f"{layer.name}_mean", mean),
        g.const(f"{layer.name}_var", var),
    ]
    return [g.op("BatchNormalization", inputs, layer.top[0], epsilon=p.eps)]


def _with_bias(g: Graph, layer, value: str, bias, axis: int, rank: int) -> str:
    bias = _param_shaped(g, layer, bias, axis, rank, f"{layer.name}_bias")
    return g.op("Add", [value, bias], layer.top[0])


def scale(g: Graph, layer, bottoms, blobs):
    p = layer.scale_param
    axis, rank = _scale_axes(g, layer, p, bottoms[0])
    if len(bottoms) == 2:
        _expect_blobs(layer, blobs, int(p.bias_term))
        factor = _broadcastable(g, layer, bottoms[1], axis, rank, f"{layer.name}_factor")
    else:
        _expect_blobs(layer, blobs, 1 + p.bias_term)
        factor = _param_shaped(g, layer, blobs.pop(0), axis, rank, f"{layer.name}_factor")
    hint = f"{layer.name}_scaled" if p.bias_term else layer.top[0]
    scaled = g.op("Mul", [bottoms[0], factor], hint)
    if not p.bias_term:
        return [scaled]
    return [_with_bias(g, layer, scaled, blobs[0], axis, rank)]


def bias(g: Graph, layer, bottoms, blobs):
    axis, rank = _scale_axes(g, layer, layer.bias_param, bottoms[0])
    if len(bottoms) == 2:
        term = _broadcastable(g, layer, bottoms[1], axis, rank, f"{layer.name}_term")
        return [g.op("Add", [bottoms[0], term], layer.top[0])]
    _expect_blobs(layer, blobs, 1)
    return [_with_bias(g, layer, bottoms[0], blobs[0], axis, rank)]


def lrn(g: Graph, layer, bottoms, blobs):
    p = layer.lrn_param
    if p.local_size % 2 == 0:
        _refuse(layer, "local_size must be odd, as Caffe requires")
    if p.norm_region == p.ACROSS_CHANNELS:  # ONNX LRN also divides alpha by the size
        return [
            g.op(
                "LRN",
                bottoms,
                layer.top[0],
                size=p.local_size,
                alpha=p.alpha,
                beta=p.beta,
                bias=p.k,
            )
        ]
    # WITHIN_CHANNEL, as LRNLayer composes it: x * (1 + alpha * avgpool(x^2))^-beta, where the
    # same-size pooling window always holds local_size^2 positions (padding counted)
    pad = (p.local_size - 1) // 2
    square = g.op("Mul", [bottoms[0], bottoms[0]], f"{layer.name}_square")
    mean = g.op(
        "AveragePool",
        [square],
        f"{layer.name}_mean",
        kernel_shape=[p.local_size] * 2,
        pads=[pad] * 4,
        count_include_pad=1,
    )
    base = _affine(g, layer, mean, p.alpha, 1.0)
    norm = g.op("Pow", [base, g.const(f"{layer.name}_beta", -p.beta)], f"{layer.name}_norm")
    return [g.op("Mul", [bottoms[0], norm], layer.top[0])]


def identity(g: Graph, layer, bottoms, blobs):
    """Dropout at test time, and Split: the bottom's value, under each top."""
    return [bottoms[0]] * len(layer.top)


def _reshape_to(g: Graph, layer, bottom: str, dims: list[int]) -> str:
    """Reshape to `dims` (known sizes), keeping the batch: a leading 0 copies it."""
    return g.op("Reshape", [bottom, g.const(f"{layer.name}_shape", dims)], layer.top[0])


def flatten(g: Graph, layer, bottoms, blobs):
    p = layer.flatten_param
    shape = g.shape(bottoms[0])
    start = _axis(layer, p.axis, len(shape))
    end = _axis(layer, p.end_axis, len(shape))
    if start == 0:
        _refuse(layer, "flattening from axis 0 would mix the images of a batch")
    middle = int(np.prod(shape[start : end + 1]))
    return [_reshape_to(g, layer, bottoms[0], [0, *shape[1:start], middle, *shape[end + 1 :]])]


def reshape(g: Graph, layer, bottoms, blobs):
    p = layer.reshape_param
    shape = g.shape(bottoms[0])
    start = _axis(layer, p.axis, len(shape) + 1) if p.axis < 0 else p.axis
    end = len(shape) if p.num_axes == -1 else start + p.num_axes
    wanted = [shape[start + i] if d == 0 else d for i, d in enumerate(p.shape.dim)]
    dims = list(shape[:start]) + wanted + list(shape[end:])
    if sum(d == -1 for d in dims) > 1:
        _refuse(layer, "more than one -1 in the shape")
    keeps_batch = dims[0] is None or (dims[0] == -1 and np.prod(dims[1:]) == np.prod(shape[1:]))
    if not keeps_batch:
        _refuse(layer, "a reshape that changes the batch axis")
    dims = [0 if d is None else d for d in dims]
    return [_reshape_to(g, layer, bottoms[0], dims)]


def concat(g: Graph, layer, bottoms, blobs):
    p = layer.concat_param
    rank = len(g.shape(bottoms[0]))
    axis = _axis(layer, p.concat_dim if p.HasField("concat_dim") else p.axis, rank)
    return [g.op("Concat", bottoms, layer.top[0], axis=axis)]


def eltwise(g: Graph, layer, bottoms, blobs):
    p = layer.eltwise_param
    operation = p.EltwiseOp.Name(p.operation)
    if operation == "MAX":
        return [g.op("Max", bottoms, layer.top[0])]
    if operation == "PROD":
        value = bottoms[0]
        for i, other in enumerate(bottoms[1:], 2):
            hint = layer.top[0] if i == len(bottoms) else f"{layer.name}_prod{i}"
            value = g.op("Mul", [value, other], hint)
        return [value]
    coeffs = list(p.coeff) or [1.0] * len(bottoms)
    if len(coeffs) != len(bottoms):
        _refuse(layer, f"{len(coeffs)} coefficients for {len(bottoms)} bottoms")
    terms = [
        b
        if c == 1
        else g.op("Mul", [b, g.const(f"{layer.name}_coeff{i}", c)], f"{layer.name}_term{i}")
        for i, (b, c) in enumerate(zip(bottoms, coeffs))
    ]
    return [g.op("Sum", terms, layer.top[0])]


def softmax(g: Graph, layer, bottoms, blobs):
    rank = len(g.shape(bottoms[0]))
    axis = _axis(layer, layer.softmax_param.axis, rank)
    return [g.op("Softmax", bottoms, layer.top[0], axis=axis)]


_REDUCE = {"SUM": "ReduceSum", "ASUM": "ReduceL1", "SUMSQ": "ReduceSumSquare", "MEAN": "ReduceMean"}


def reduction(g: Graph, layer, bottoms, blobs):
    p = layer.reduction_param
    rank = len(g.shape(bottoms[0]))
    axis = _axis(layer, p.axis, rank)
    value = bottoms[0]
    if axis < rank - 1:  # Caffe reduces every axis from `axis` on
        folded = g.const(f"{layer.name}_fold", [0] * axis + [-1])
        value = g.op("Reshape", [value, folded], f"{layer.name}_folded")
    op = _REDUCE[p.ReductionOp.Name(p.operation)]
    hint = layer.top[0] if p.coeff == 1 else f"{layer.name}_reduced"
    value = g.op(op, [value, g.const(f"{layer.name}_axes", [axis])], hint, keepdims=0)
    if p.coeff == 1:
        return [value]
    return [g.op("Mul", [value, g.const(f"{layer.name}_coeff", p.coeff)], layer.top[0])]


def tile(g: Graph, layer, bottoms, blobs):
    p = layer.tile_param
    rank = len(g.shape(bottoms[0]))
    repeats = [1] * rank
    repeats[_axis(layer, p.axis, rank)] = p.tiles
    return [g.op("Tile", [bottoms[0], g.const(f"{layer.name}_repeats", repeats)], layer.top[0])]


CONVERTERS = {
    "Convolution": convolution,
    "Pooling": pooling,
    "InnerProduct": inner_product,
    "ReLU": relu,
    "PReLU": prelu,
    "ELU": elu,
    "Sigmoid": _unary("Sigmoid"),
    "TanH": _unary("Tanh"),
    "AbsVal": _unary("Abs"),
    "BNLL": _unary("Softplus"),
    "Power": power,
    "Exp": exp,
    "Log": log,
    "BatchNorm": batch_norm,
    "Scale": scale,
    "Bias": bias,
    "LRN": lrn,
    "Dropout": identity,
    "Split": identity,
    "Flatten": flatten,
    "Reshape": reshape,
    "Concat": concat,
    "Eltwise": eltwise,
    "Softmax": softmax,
    "Reduction": reduction,
    "Tile": tile,
}
