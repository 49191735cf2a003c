"""net.losses: the composed loss layers, run by a small numpy reading of Caffe's layer semantics
and compared with each loss's formula computed straight from the features."""

import numpy as np
import pytest

from caffesiam.net.losses import CHOPRA_DECAY, loss_layers
from caffesiam.spec.tower import LossSpec

pytestmark = pytest.mark.caffe


def run(layers, blobs: dict) -> dict:
    """Forward through Eltwise, Reduction, Power, Exp, ReLU and Silence as Caffe computes them."""
    from caffesiam.caffe.proto import caffe_pb2

    pb = caffe_pb2()
    blobs = dict(blobs)
    for layer in layers:
        x = [blobs[b] for b in layer.bottom]
        if layer.type == "Silence":
            continue
        if layer.type == "Eltwise":
            p = layer.eltwise_param
            if p.operation == pb.EltwiseParameter.PROD:
                y = np.prod(x, axis=0)
            else:
                coeff = list(p.coeff) or [1.0] * len(x)
                y = sum(c * v for c, v in zip(coeff, x))
        elif layer.type == "Reduction":  # over every axis from `axis` on
            p = layer.reduction_param
            axes = tuple(range(p.axis, x[0].ndim))
            if p.operation == pb.ReductionParameter.SUMSQ:
                y = (x[0] ** 2).sum(axis=axes) * p.coeff
            else:
                assert p.operation == pb.ReductionParameter.MEAN
                y = x[0].mean(axis=axes) * p.coeff
        elif layer.type == "Power":
            p = layer.power_param
            y = (p.shift + p.scale * x[0]) ** p.power
        elif layer.type == "Exp":
            p = layer.exp_param
            y = (np.e if p.base == -1 else p.base) ** (p.shift + p.scale * x[0])
        elif layer.type == "ReLU":
            y = np.maximum(x[0], 0)
        else:
            raise AssertionError(f"no numpy reading of {layer.type}")
        blobs[layer.top[0]] = y
    return blobs


@pytest.fixture
def features():
    rng = np.random.default_rng(3)
    a, p, n = (rng.normal(size=(16, 5)) for _ in range(3))
    p[:4] = a[:4]  # identical pairs: distance 0, where sqrt's gradient needs EPS
    return a, p, n, (np.arange(16) % 2).astype(np.float64)


def test_only_the_last_composed_layer_is_a_loss_and_it_writes_the_loss_top():
    for kind in ("chopra2005", "triplet"):
        layers = loss_layers("feat", LossSpec(kind=kind))
        assert [list(layer.loss_weight) for layer in layers] == [[]] * (len(layers) - 1) + [[1]]
        assert list(layers[-1].top) == ["loss"]


@pytest.mark.parametrize("q", [5.0, 0.7])
def test_chopra2005_is_the_papers_loss(features, q):
    a, p, _, sim = features
    blobs = run(
        loss_layers("feat", LossSpec("chopra2005", q=q)), {"feat": a, "feat_p": p, "sim": sim}
    )
    distance = np.linalg.norm(a - p, axis=1)
    expected = np.mean(
        sim * (2 / q) * distance**2 + (1 - sim) * 2 * q * np.exp(-CHOPRA_DECAY * distance / q)
    )
    assert CHOPRA_DECAY == 2.77
    assert blobs["loss"] == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize("margin", [0.0, 1.0, 20.0])
def test_triplet_is_the_mean_hinge_of_squared_distances(features, margin):
    a, p, n, sim = features
    layers = loss_layers("feat", LossSpec("triplet", margin=margin))
    blobs = run(layers, {"feat": a, "feat_p": p, "feat_n": n, "sim": sim})
    gap = ((a - p) ** 2).sum(axis=1) - ((a - n) ** 2).sum(axis=1) + margin
    assert blobs["loss"] == pytest.approx(np.maximum(gap, 0).mean(), rel=1e-9)
    assert layers[0].type == "Silence" and list(layers[0].bottom) == ["sim"]


def test_contrastive_is_caffes_own_layer_with_the_margin():
    (layer,) = loss_layers("f", LossSpec("contrastive", margin=0.3))
    assert (layer.type, list(layer.bottom)) == ("ContrastiveLoss", ["f", "f_p", "sim"])
    assert layer.contrastive_loss_param.margin == pytest.approx(0.3)
    assert not layer.contrastive_loss_param.legacy_version
    (legacy,) = loss_layers("f", LossSpec("contrastive-legacy"))
    assert legacy.contrastive_loss_param.legacy_version
