"""Tower -> siamese (or triplet) train_test net and deploy net, as caffe_pb2 messages (no I/O).

Mirrors what examples/siamese/readme.md asks users to do by hand: a `_p` copy of every layer,
top and bottom, and one shared `param { name: ... }` per learnable blob in both towers.
"""

import dataclasses

from caffesiam.caffe.proto import caffe_pb2
from caffesiam.data.backends import DEFAULT_BACKEND, caffe_backend
from caffesiam.errors import SpecError
from caffesiam.net.losses import loss_layers
from caffesiam.spec.names import INPUT_BLOB, NEGATIVE_SUFFIX, PAIR_DATA, SIM, SLICE, TWIN_SUFFIX
from caffesiam.spec.params import param_roles
from caffesiam.spec.tower import Tower, resolve_loss


def _shared_params(layer):
    """Give each learnable blob a ParamSpec named '<layer>_<role>', keeping lr/decay mults."""
    roles = param_roles(layer)
    while len(layer.param) < len(roles):
        spec = layer.param.add()
        if layer.type == "BatchNorm":  # running statistics, not learned by SGD
            spec.lr_mult = 0
            spec.decay_mult = 0
    for spec, role in zip(layer.param, roles):
        if not spec.name:
            spec.name = f"{layer.name}_{role}"


def _twin(layer, suffix: str, blobs: set):
    twin = caffe_pb2().LayerParameter()
    twin.CopyFrom(layer)
    twin.name = layer.name + suffix
    for field in (twin.bottom, twin.top):
        for i, blob in enumerate(field):
            if blob in blobs:
                field[i] = blob + suffix
    return twin


def _data_layers(net, tower: Tower, sources: dict[str, str], batch: dict[str, int]):
    pb = caffe_pb2()
    for phase in ("TRAIN", "TEST"):
        layer = net.layer.add(name=PAIR_DATA, type="Data", top=[PAIR_DATA, SIM])
        layer.include.add(phase=pb.Phase.Value(phase))
        layer.transform_param.scale = tower.data.scale
        layer.data_param.source = sources[phase]
        layer.data_param.batch_size = batch[phase]
        if tower.data.backend != DEFAULT_BACKEND:  # Caffe's default; left unset like the example
            layer.data_param.backend = caffe_backend(tower.data.backend)


def _slice_layer(net, channels: int, tops: list[str]):
    layer = net.layer.add(name=SLICE, type="Slice", bottom=[PAIR_DATA], top=tops)
    layer.slice_param.slice_dim = 1
    for k in range(1, len(tops)):
        layer.slice_param.slice_point.append(k * channels)


def tower_blobs(tower: Tower) -> set:
    return {INPUT_BLOB} | {b for layer in tower.layers for b in layer.top}


def build_siamese(
    tower: Tower,
    pseudo: bool = False,
    train_source: str = None,
    test_source: str = None,
    batch_size: int = None,
    test_batch_size: int = None,
    margin: float = None,
    legacy: bool = None,
    loss: str = None,
    q: float = None,
):
    """The full siamese (or triplet) train_test NetParameter, in the order of Caffe's example."""
    data = tower.data
    loss_spec = resolve_loss(tower.loss, loss, margin, q, legacy)
    suffixes = [TWIN_SUFFIX, NEGATIVE_SUFFIX][: loss_spec.towers - 1]
    head = loss_layers(tower.output, loss_spec)
    blobs = tower_blobs(tower)
    _check_names(tower, blobs, suffixes, head)
    net = caffe_pb2().NetParameter(name=f"{tower.name}_train_test")
    _data_layers(
        net,
        tower,
        {"TRAIN": train_source or data.train_source, "TEST": test_source or data.test_source},
        {"TRAIN": batch_size or data.batch_size, "TEST": test_batch_size or data.test_batch_size},
    )
    _slice_layer(net, data.channels, [INPUT_BLOB] + [INPUT_BLOB + s for s in suffixes])
    base = []
    for layer in tower.layers:
        copy = net.layer.add()
        copy.CopyFrom(layer)
        if not pseudo:
            _shared_params(copy)
        base.append(copy)
    for suffix in suffixes:
        net.layer.extend(_twin(layer, suffix, blobs) for layer in base)
    net.layer.extend(head)
    return net


def _check_names(tower: Tower, blobs: set, suffixes: list[str], head: list):
    """Tower names must not collide with a third tower's names or the loss's helper layers."""
    names = blobs | {layer.name for layer in tower.layers}
    for suffix in suffixes[1:]:
        for name in sorted(names):
            if name + suffix in names:
                raise SpecError(
                    f"{tower.name}: '{name}{suffix}' already exists, so the third "
                    f"tower's copy of '{name}' would collide; rename it"
                )
    taken = {n for layer in head for n in [layer.name, *layer.top]}
    clash = sorted(names & taken)
    if clash:
        raise SpecError(
            f"{tower.name}: the name '{clash[0]}' is used by the generated loss; rename it"
        )


_NUM_OUTPUT = {
    "InnerProduct": "inner_product_param",
    "Convolution": "convolution_param",
    "Deconvolution": "convolution_param",
    "Embed": "embed_param",
}


def with_feature_size(tower: Tower, size: int) -> Tower:
    """A copy of `tower` whose output layer has `size` outputs (the embedding's dimensions)."""
    layers = list(tower.layers)
    # The layer that makes the output, past any in-place layer (a final ReLU) that rewrites it.
    i = max(
        k
        for k, layer in enumerate(layers)
        if tower.output in layer.top and tower.output not in layer.bottom
    )
    if layers[i].type not in _NUM_OUTPUT:
        raise SpecError(
            f"{tower.name}: --feature-size sets num_output of the output layer, but "
            f"'{layers[i].name}' ({layers[i].type}) has none; end the tower with one of "
            f"{', '.join(sorted(_NUM_OUTPUT))}"
        )
    resized = caffe_pb2().LayerParameter()
    resized.CopyFrom(layers[i])
    getattr(resized, _NUM_OUTPUT[resized.type]).num_output = size
    layers[i] = resized
    return dataclasses.replace(tower, layers=layers)


def build_deploy(tower: Tower, batch: int = 1):
    """One tower behind an Input layer; weights load from the trained net by layer name."""
    net = caffe_pb2().NetParameter(name=tower.name)
    layer = net.layer.add(name=INPUT_BLOB, type="Input", top=[INPUT_BLOB])
    layer.input_param.shape.add(
        dim=[batch, tower.data.channels, tower.data.height, tower.data.width]
    )
    for tower_layer in tower.layers:
        copy = net.layer.add()
        copy.CopyFrom(tower_layer)
    return net
