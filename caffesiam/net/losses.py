"""The loss head of the siamese net: Caffe's ContrastiveLoss, or a loss that Caffe has no layer
for, composed from stock layers (pure: lists of LayerParameters).

Each builder takes the tower outputs' blob names and returns the layers that compute the loss,
ending in a Reduction whose top is `loss` (with `loss_weight: 1`, since a Reduction top is not a
loss by default). Helper layers and blobs are named by role: `loss_diff`, `loss_dist2`, ...

Labels keep Caffe's convention: `sim` = 1 for a same-class pair. Chopra et al. write Y = 0 for a
genuine (same) pair, so the paper's Y is 1 - sim (the `loss_dissim` blob).
"""

from caffesiam.caffe.proto import caffe_pb2
from caffesiam.spec.names import LOSS_TOP, NEGATIVE_SUFFIX, SIM, TWIN_SUFFIX
from caffesiam.spec.tower import LossSpec

# sqrt(E^2 + EPS): Caffe's Power backward divides by its input, which is 0 for identical features;
# the shift keeps that finite and moves E by at most sqrt(EPS) = 1e-6.
EPS = 1e-12
CHOPRA_DECAY = 2.77  # the exponent's constant in Chopra, Hadsell and LeCun (CVPR 2005), eq. 6


def layer(name: str, kind: str, bottoms: list[str], top: str = None, **params):
    """A LayerParameter; `params` are `<type>_param` fields, e.g. power_param={'power': 2}."""
    spec = caffe_pb2().LayerParameter(name=name, type=kind, bottom=bottoms, top=[top or name])
    for field, values in params.items():
        message = getattr(spec, field)
        for key, value in values.items():
            if isinstance(value, (list, tuple)):
                getattr(message, key).extend(value)
            else:
                setattr(message, key, value)
    return spec


def squared_distance(a: str, b: str, tag: str = "") -> list:
    """loss_diff<tag> = a - b, loss_dist2<tag> = ||a - b||^2 per item (all axes after the batch)."""
    return [
        layer(
            f"loss_diff{tag}",
            "Eltwise",
            [a, b],
            eltwise_param={"operation": "SUM", "coeff": [1, -1]},
        ),
        layer(
            f"loss_dist2{tag}",
            "Reduction",
            [f"loss_diff{tag}"],
            reduction_param={"operation": "SUMSQ", "axis": 1},
        ),
    ]


def distance() -> list:
    """loss_dist = sqrt(loss_dist2 + EPS), the Euclidean distance E."""
    return [affine("loss_dist", "loss_dist2", shift=EPS, power=0.5)]


def affine(name: str, bottom: str, scale: float = 1.0, shift: float = 0.0, power: float = 1.0):
    """(shift + scale * bottom) ^ power, Caffe's Power layer (only non-default fields are
    written)."""
    values = {"power": power, "scale": scale, "shift": shift}
    defaults = {"power": 1.0, "scale": 1.0, "shift": 0.0}
    return layer(
        name, "Power", [bottom], power_param={k: v for k, v in values.items() if v != defaults[k]}
    )


def label_weighted_mean(sim: str, same_cost: str, different_cost: str, coeff: float = 1.0) -> list:
    """mean over the batch of sim * same_cost + (1 - sim) * different_cost, times `coeff`."""
    return [
        affine("loss_dissim", sim, scale=-1, shift=1),
        layer("loss_same", "Eltwise", [sim, same_cost], eltwise_param={"operation": "PROD"}),
        layer(
            "loss_different",
            "Eltwise",
            ["loss_dissim", different_cost],
            eltwise_param={"operation": "PROD"},
        ),
        layer(
            "loss_per_pair",
            "Eltwise",
            ["loss_same", "loss_different"],
            eltwise_param={"operation": "SUM"},
        ),
        mean_loss("loss_per_pair", coeff),
    ]


def mean_loss(bottom: str, coeff: float = 1.0):
    """The `loss` top: coeff * mean of `bottom` over the batch, marked as a loss."""
    spec = layer(LOSS_TOP, "Reduction", [bottom], reduction_param={"operation": "MEAN", "axis": 0})
    if coeff != 1.0:
        spec.reduction_param.coeff = coeff
    spec.loss_weight.append(1)
    return spec


def chopra2005(a: str, b: str, sim: str, q: float) -> list:
    """Chopra et al. 2005: same-class pairs (2/Q) E^2, different-class pairs 2Q exp(-2.77 E / Q)."""
    return (
        squared_distance(a, b)
        + distance()
        + [
            affine("loss_same_cost", "loss_dist2", scale=2 / q),
            layer(
                "loss_different_exp", "Exp", ["loss_dist"], exp_param={"scale": -CHOPRA_DECAY / q}
            ),
            affine("loss_different_cost", "loss_different_exp", scale=2 * q),
        ]
        + label_weighted_mean(sim, "loss_same_cost", "loss_different_cost")
    )


def triplet(anchor: str, positive: str, negative: str, margin: float) -> list:
    """mean of max(0, ||a - p||^2 - ||a - n||^2 + margin) over the batch."""
    return (
        squared_distance(anchor, positive, "_pos")
        + squared_distance(anchor, negative, "_neg")
        + [
            layer(
                "loss_gap",
                "Eltwise",
                ["loss_dist2_pos", "loss_dist2_neg"],
                eltwise_param={"operation": "SUM", "coeff": [1, -1]},
            ),
            affine("loss_gap_margin", "loss_gap", shift=margin),
            layer("loss_hinge", "ReLU", ["loss_gap_margin"]),
            mean_loss("loss_hinge"),
        ]
    )


def loss_layers(output: str, loss: LossSpec) -> list:
    """The layers from the towers' outputs (and `sim`) to the `loss` top."""
    a, p, n = output, output + TWIN_SUFFIX, output + NEGATIVE_SUFFIX
    if loss.kind == "chopra2005":
        return chopra2005(a, p, SIM, loss.q)
    if loss.kind == "triplet":  # the Data layer's label is unused; Caffe wants every top consumed
        silence = caffe_pb2().LayerParameter(name="silence_sim", type="Silence", bottom=[SIM])
        return [silence] + triplet(a, p, n, loss.margin)
    contrastive = layer(
        LOSS_TOP, "ContrastiveLoss", [a, p, SIM], contrastive_loss_param={"margin": loss.margin}
    )
    if loss.kind == "contrastive-legacy":
        contrastive.contrastive_loss_param.legacy_version = True
    return [contrastive]
