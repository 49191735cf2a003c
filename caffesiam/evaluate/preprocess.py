"""How training fed the net, reproduced for evaluation: the Data layer's transform (scale, mean)
and the ContrastiveLoss margin, read from the train_test net."""

from caffesiam.caffe.netload import load_net
from caffesiam.errors import ModelError
from caffesiam.evaluate.embedding import Preprocess

SOURCE_LAYERS = {"Data", "ImageData", "HDF5Data", "WindowData"}  # layers that read files


def _data_layer(net, path):
    """The TEST-phase data layer (else the first one) of a train_test net."""
    layers = [layer for layer in net.layer if layer.type in SOURCE_LAYERS]
    if not layers:
        raise ModelError(f"{path}: no Data layer, so no transform_param to read; pass --scale")
    test = [layer for layer in layers if any(rule.phase == 1 for rule in layer.include)]
    return (test or layers)[0]


def preprocess_from_train_net(path) -> Preprocess:
    """The scale and mean_value of a train net's data layer, applied as training applied them."""
    layer = _data_layer(load_net(path), path)
    t = layer.transform_param
    if t.mean_file or t.crop_size:
        raise ModelError(
            f"{path}: transform_param mean_file/crop_size are not supported; pass --scale"
        )
    scale = t.scale if t.HasField("scale") else 1.0  # Caffe's default
    return Preprocess(scale, tuple(t.mean_value), f"{path}, layer '{layer.name}'")


def margin_from_train_net(path) -> float | None:
    """The ContrastiveLoss margin of a train net, or None when it has no such layer."""
    for layer in load_net(path).layer:
        if layer.type == "ContrastiveLoss":
            return layer.contrastive_loss_param.margin
    return None
