"""Tower -> siamese train_test net, deploy net and solver, as caffe_pb2 messages (no I/O).

Mirrors what examples/siamese/readme.md asks users to do by hand: a `_p` copy of every layer,
top and bottom, and one shared `param { name: ... }` per learnable blob in both towers.
"""

from collections import Counter
from typing import Dict, List

from caffesiam import losses
from caffesiam.errors import SolverError, SpecError
from caffesiam.proto import caffe_pb2
from caffesiam.spec import INPUT_BLOB, NEGATIVE_SUFFIX, TWIN_SUFFIX, LossSpec, Tower

# Blob roles by layer type, in Caffe's blob order; the role names the shared param.
_BIAS_TERM = {"Convolution": "convolution_param", "Deconvolution": "convolution_param",
              "InnerProduct": "inner_product_param", "Embed": "embed_param"}


def param_roles(layer) -> List[str]:
    """Names of the learnable blobs of `layer` (empty for layers without weights)."""
    kind = layer.type
    if kind in _BIAS_TERM:
        bias = getattr(layer, _BIAS_TERM[kind]).bias_term
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


def _data_layers(net, tower: Tower, sources: Dict[str, str], batch: Dict[str, int]):
    pb = caffe_pb2()
    for phase in ("TRAIN", "TEST"):
        layer = net.layer.add(name="pair_data", type="Data", top=["pair_data", "sim"])
        layer.include.add(phase=pb.Phase.Value(phase))
        layer.transform_param.scale = tower.data.scale
        layer.data_param.source = sources[phase]
        layer.data_param.batch_size = batch[phase]
        if tower.data.backend == "lmdb":  # LEVELDB is Caffe's default; leave it unset like the example
            layer.data_param.backend = pb.DataParameter.LMDB


def _slice_layer(net, channels: int, tops: List[str]):
    layer = net.layer.add(name="slice_pair", type="Slice", bottom=["pair_data"], top=tops)
    layer.slice_param.slice_dim = 1
    for k in range(1, len(tops)):
        layer.slice_param.slice_point.append(k * channels)


def resolve_loss(tower: Tower, kind: str = None, margin: float = None, q: float = None,
                 legacy: bool = None) -> LossSpec:
    """The tower's loss with command-line overrides (None keeps the spec's value)."""
    spec = tower.loss
    kind = "contrastive-legacy" if legacy else kind or spec.kind
    return LossSpec(kind=kind, margin=spec.margin if margin is None else margin,
                    q=spec.q if q is None else q)


def loss_layers(output: str, loss: LossSpec) -> list:
    """The layers from the towers' outputs (and `sim`) to the `loss` top."""
    a, p, n = output, output + TWIN_SUFFIX, output + NEGATIVE_SUFFIX
    if loss.kind == "chopra2005":
        return losses.chopra2005(a, p, "sim", loss.q)
    if loss.kind == "triplet":  # the Data layer's label is unused; Caffe wants every top consumed
        silence = caffe_pb2().LayerParameter(name="silence_sim", type="Silence", bottom=["sim"])
        return [silence] + losses.triplet(a, p, n, loss.margin)
    layer = losses.layer(losses.LOSS_TOP, "ContrastiveLoss", [a, p, "sim"],
                         contrastive_loss_param={"margin": loss.margin})
    if loss.kind == "contrastive-legacy":
        layer.contrastive_loss_param.legacy_version = True
    return [layer]


def tower_blobs(tower: Tower) -> set:
    return {INPUT_BLOB} | {b for layer in tower.layers for b in layer.top}


def build_siamese(tower: Tower, pseudo: bool = False, train_source: str = None,
                  test_source: str = None, batch_size: int = None, test_batch_size: int = None,
                  margin: float = None, legacy: bool = None, loss: str = None, q: float = None):
    """The full siamese (or triplet) train_test NetParameter, in the order of Caffe's example."""
    data = tower.data
    loss_spec = resolve_loss(tower, loss, margin, q, legacy)
    suffixes = [TWIN_SUFFIX, NEGATIVE_SUFFIX][:loss_spec.towers - 1]
    head = loss_layers(tower.output, loss_spec)
    blobs = tower_blobs(tower)
    _check_names(tower, blobs, suffixes, head)
    net = caffe_pb2().NetParameter(name=f"{tower.name}_train_test")
    _data_layers(net, tower,
                 {"TRAIN": train_source or data.train_source, "TEST": test_source or data.test_source},
                 {"TRAIN": batch_size or data.batch_size, "TEST": test_batch_size or data.test_batch_size})
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


def _check_names(tower: Tower, blobs: set, suffixes: List[str], head: list):
    """Tower names must not collide with a third tower's names or the loss's helper layers."""
    names = blobs | {layer.name for layer in tower.layers}
    for suffix in suffixes[1:]:
        for name in sorted(names):
            if name + suffix in names:
                raise SpecError(f"{tower.name}: '{name}{suffix}' already exists, so the third "
                                f"tower's copy of '{name}' would collide; rename it")
    taken = {n for layer in head for n in [layer.name, *layer.top]}
    clash = sorted(names & taken)
    if clash:
        raise SpecError(f"{tower.name}: the name '{clash[0]}' is used by the generated loss; rename it")


def build_deploy(tower: Tower, batch: int = 1):
    """One tower behind an Input layer; weights load from the trained net by layer name."""
    net = caffe_pb2().NetParameter(name=tower.name)
    layer = net.layer.add(name=INPUT_BLOB, type="Input", top=[INPUT_BLOB])
    layer.input_param.shape.add(dim=[batch, tower.data.channels, tower.data.height, tower.data.width])
    for tower_layer in tower.layers:
        copy = net.layer.add()
        copy.CopyFrom(tower_layer)
    return net


def shared_param_names(net) -> Dict[str, int]:
    """Param names used by more than one layer, with how often each is used."""
    counts = Counter(spec.name for layer in net.layer for spec in layer.param if spec.name)
    return {name: n for name, n in counts.items() if n > 1}


SOLVER_DEFAULTS = dict(  # examples/siamese/mnist_siamese_solver.prototxt
    test_iter=100, test_interval=500, base_lr=0.01, momentum=0.9, weight_decay=0.0,
    lr_policy="inv", gamma=0.0001, power=0.75, display=100, max_iter=50000, snapshot=5000,
)
# What each of Caffe's lr_policy values reads (SGDSolver::GetLearningRate); gamma defaults to
# the example's 1e-4 for inv and to 0.1 for the step policies.
LR_POLICY_FIELDS = {
    "fixed": (), "step": ("gamma", "stepsize"), "multistep": ("gamma", "stepvalue"),
    "exp": ("gamma",), "inv": ("gamma", "power"), "poly": ("power",), "sigmoid": ("gamma", "stepsize"),
}
_POLICY_DEFAULTS = {"inv": {k: SOLVER_DEFAULTS[k] for k in ("gamma", "power")},
                    "step": dict(gamma=0.1), "multistep": dict(gamma=0.1)}


def build_solver(net_path: str, snapshot_prefix: str, shares_params: bool, gpu: bool = False,
                 **overrides):
    """A SolverParameter with the siamese example's defaults; None overrides are ignored.

    SolverError when a learning-rate setting does not fit `lr_policy` or one it needs is missing.
    """
    pb = caffe_pb2()
    given = {k: v for k, v in overrides.items() if v not in (None, ())}
    policy = given.get("lr_policy", SOLVER_DEFAULTS["lr_policy"])
    settings = {k: v for k, v in SOLVER_DEFAULTS.items() if k not in ("gamma", "power")}
    settings.update(_POLICY_DEFAULTS.get(policy, {}))
    settings.update(given)
    _check_lr_schedule(policy, given, settings)
    solver = pb.SolverParameter(net=net_path, snapshot_prefix=snapshot_prefix)
    for key, value in settings.items():
        if key == "test_iter":
            solver.test_iter.append(value)
        elif key == "stepvalue":
            solver.stepvalue.extend(value)
        else:
            setattr(solver, key, value)
    solver.solver_mode = pb.SolverParameter.GPU if gpu else pb.SolverParameter.CPU
    if shares_params:  # multi-GPU all-reduce breaks on shared params otherwise (Caffe #5538)
        solver.layer_wise_reduce = False
    return solver


def _check_lr_schedule(policy: str, given: dict, settings: dict):
    wanted = LR_POLICY_FIELDS[policy]
    for key in ("gamma", "power", "stepsize", "stepvalue"):
        if key in given and key not in wanted:
            raise SolverError(f"--{key} does not apply to lr_policy {policy} "
                              f"(it reads {', '.join(wanted) or 'nothing but base_lr'})")
        if key in wanted and key not in settings:
            raise SolverError(f"lr_policy {policy} needs --{key}")
    steps = list(settings.get("stepvalue", ()))
    if steps != sorted(set(steps)) or (steps and steps[-1] >= settings["max_iter"]):
        raise SolverError(f"--stepvalue must increase and stay below --max-iter "
                          f"{settings['max_iter']}, got {', '.join(map(str, steps))}")
