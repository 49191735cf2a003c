"""One line per layer of the settings that define it, for diagrams and listings (no I/O)."""

from caffesiam.caffe.proto import caffe_pb2


def dims(values) -> str:
    """Shape or kernel as text: [64, 1, 28, 28] → '64×1×28×28'."""
    return "×".join(str(v) for v in values)


def _kernel(p, name: str, default) -> list[int]:
    """A 2-D conv/pool geometry field (kernel, stride, pad) from its repeated, _h/_w or plain
    form."""
    h, w = getattr(p, f"{name}_h", 0), getattr(p, f"{name}_w", 0)
    if h or w:
        return [h, w]
    value = getattr(p, f"{name}_size" if name == "kernel" else name)
    values = list(value) if hasattr(value, "__len__") else ([value] if value else [])
    return values or [default]


def summary(layer) -> str:
    """One line of the settings that define a layer (Convolution: kernel, stride, pad, outputs)."""
    kind = layer.type
    if kind in ("Convolution", "Deconvolution"):
        p = layer.convolution_param
        k = _kernel(p, "kernel", 0)
        text = (
            f"kernel {dims(k * 2 if len(k) == 1 else k)}  stride {dims(_kernel(p, 'stride', 1))}  "
            f"pad {dims(_kernel(p, 'pad', 0))}  → {p.num_output}"
        )
        return text + (f"  group {p.group}" if p.group > 1 else "")
    if kind == "Pooling":
        p = layer.pooling_param
        method = caffe_pb2().PoolingParameter.PoolMethod.Name(p.pool)
        if p.global_pooling:
            return f"{method} global"
        k = _kernel(p, "kernel", 0)
        stride = dims(_kernel(p, "stride", 1))
        return f"{method}  kernel {dims(k * 2 if len(k) == 1 else k)}  stride {stride}"
    if kind == "InnerProduct":
        return f"→ {layer.inner_product_param.num_output}"
    if kind == "ContrastiveLoss":
        p = layer.contrastive_loss_param
        return f"margin {p.margin:g}" + ("  legacy" if p.legacy_version else "")
    if kind in ("Data", "ImageData", "WindowData", "HDF5Data"):
        batch = {
            "Data": layer.data_param,
            "ImageData": layer.image_data_param,
            "WindowData": layer.window_data_param,
            "HDF5Data": layer.hdf5_data_param,
        }[kind].batch_size
        return f"batch {batch}"
    if kind == "Input":
        return ", ".join(dims(s.dim) for s in layer.input_param.shape)
    if kind == "Slice":
        p = layer.slice_param
        axis = p.slice_dim if p.HasField("slice_dim") else p.axis
        return (
            f"axis {axis} at {', '.join(map(str, p.slice_point))}"
            if p.slice_point
            else f"axis {axis}"
        )
    if kind == "Dropout":
        return f"{layer.dropout_param.dropout_ratio:g}"
    if kind == "LRN":
        return f"size {layer.lrn_param.local_size}"
    if kind == "Eltwise":
        p = layer.eltwise_param
        coeff = f"  coeff {', '.join(f'{c:g}' for c in p.coeff)}" if p.coeff else ""
        return caffe_pb2().EltwiseParameter.EltwiseOp.Name(p.operation) + coeff
    if kind == "Reduction":
        p = layer.reduction_param
        op = caffe_pb2().ReductionParameter.ReductionOp.Name(p.operation)
        return f"{op} axis {p.axis}" + (f"  ×{p.coeff:g}" if p.coeff != 1 else "")
    if kind == "Power":  # Caffe's PowerLayer: (shift + scale·x)^power
        p = layer.power_param
        text = _affine(p.scale, p.shift)
        return f"({text})^{p.power:g}" if p.power != 1 else text
    if kind == "Exp":  # Caffe's ExpLayer: base^(shift + scale·x), base -1 meaning e
        p = layer.exp_param
        return f"{'e' if p.base == -1 else f'{p.base:g}'}^({_affine(p.scale, p.shift)})"
    return ""


def _affine(scale: float, shift: float) -> str:
    """'shift + scale·x' without the default terms: '1 - x', '0.4·x', 'x + 1e-12'."""
    term = "x" if scale == 1 else "-x" if scale == -1 else f"{scale:g}·x"
    if not shift:
        return term
    return f"{shift:g} {'- ' + term[1:] if term.startswith('-') else '+ ' + term}"


def category(layer) -> str:
    """The colour group of a layer: data, conv, pool, ip, loss or other."""
    kind = layer.type
    if "Data" in kind or kind in ("Input", "Slice"):
        return "data"
    if kind in ("Convolution", "Deconvolution"):
        return "conv"
    if kind == "Pooling":
        return "pool"
    if kind == "InnerProduct":
        return "ip"
    if "Loss" in kind or kind == "Accuracy" or any(layer.loss_weight):
        return "loss"
    return "other"
