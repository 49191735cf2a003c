"""Proofs for the losses composed from stock Caffe layers (caffesiam.net.losses), with the real
pycaffe.

Forward: Caffe's value on a real Fashion-MNIST batch equals numpy on the same tower outputs.
Backward: Caffe's param gradients equal central finite differences on a tiny tower.
Cross-check: contrastive loss composed the same way equals Caffe's ContrastiveLoss layer.
"""

import numpy as np
import pytest
from conftest import REPO

from caffesiam.caffe.proto import caffe_pb2, to_text
from caffesiam.data.pairs import sample_triplets
from caffesiam.data.write import write_pair_db
from caffesiam.net import losses
from caffesiam.net.siamese import build_siamese
from caffesiam.spec.load import load_tower, tower_from_yaml

pytestmark = pytest.mark.caffe

PAIR_LOSSES = ["contrastive", "contrastive-legacy", "chopra2005"]
ALL_LOSSES = PAIR_LOSSES + ["triplet"]
MARGIN, Q = 1.0, 5.0


def numpy_loss(kind, blobs, margin=MARGIN, q=Q):
    """Each loss written directly from its definition, in float64, from pycaffe's blobs."""
    blobs = {name: blob.data for name, blob in blobs.items()}
    a = blobs["feat"].astype(np.float64).reshape(len(blobs["feat"]), -1)
    p = blobs["feat_p"].astype(np.float64).reshape(len(a), -1)
    d2 = ((a - p) ** 2).sum(1)
    d = np.sqrt(d2)
    if kind == "triplet":
        n = blobs["feat_n"].astype(np.float64).reshape(len(a), -1)
        return np.maximum(0, d2 - ((a - n) ** 2).sum(1) + margin).mean()
    sim = blobs["sim"].astype(np.float64)
    if kind == "chopra2005":  # paper's Y = 1 - sim
        return (sim * (2 / q) * d2 + (1 - sim) * 2 * q * np.exp(-2.77 * d / q)).mean()
    far = (
        np.maximum(margin - d2, 0)
        if kind == "contrastive-legacy"
        else np.maximum(margin - d, 0) ** 2
    )
    return (sim * d2 + (1 - sim) * far).mean() / 2  # ContrastiveLossLayer divides by 2N


@pytest.fixture(scope="module")
def triplet_dbs(tmp_path_factory, fashion_test):
    """Small train/test triplet LevelDBs of real Fashion-MNIST images, written by caffesiam."""
    images, labels = fashion_test
    root = tmp_path_factory.mktemp("triplets")
    dbs = {}
    for split, n in (("train", 64), ("test", 32)):
        plan = sample_triplets(labels[:2000], n, seed=len(split))
        dbs[split] = root / f"{split}_leveldb"
        write_pair_db(dbs[split], images[:2000, None], plan)
    return dbs


def _net_file(net_param, tmp_path, name="net.prototxt"):
    path = tmp_path / name
    path.write_text(to_text(net_param))
    return str(path)


@pytest.mark.parametrize("kind", ALL_LOSSES)
def test_forward_equals_numpy_on_a_real_batch(kind, fashion_pair_dbs, triplet_dbs, tmp_path):
    import caffe

    dbs = triplet_dbs if kind == "triplet" else fashion_pair_dbs
    tower = load_tower(REPO / "templates/lenet.yaml")
    net_param = build_siamese(
        tower,
        train_source=str(dbs["train"]),
        test_source=str(dbs["test"]),
        batch_size=16,
        loss=kind,
        margin=MARGIN,
        q=Q,
    )
    caffe.set_random_seed(1)
    net = caffe.Net(_net_file(net_param, tmp_path), caffe.TRAIN)
    for _ in range(2):  # two different batches
        value = float(net.forward()["loss"])
        expected = numpy_loss(kind, net.blobs)
        assert value == pytest.approx(expected, rel=1e-5)
        assert expected > 1e-3  # a non-trivial batch, not 0 == 0


def tiny_net(kind, tmp_path, loss_layers=None, margin=MARGIN, batch=6):
    """A 3x3-pixel, two-InnerProduct tower with Input data (set by the test) and force_backward."""
    tower = tower_from_yaml(
        """
name: tiny
data: {channels: 1, height: 3, width: 3}
tower:
  - {name: ip1, type: InnerProduct, inner_product_param: {num_output: 5,
       weight_filler: {type: gaussian, std: 0.6}, bias_filler: {type: gaussian, std: 0.3}}}
  - {name: tanh1, type: TanH}
  - {name: feat, type: InnerProduct, inner_product_param: {num_output: 3,
       weight_filler: {type: gaussian, std: 0.6}, bias_filler: {type: gaussian, std: 0.3}}}
""",
        "tiny.yaml",
    )
    built = build_siamese(tower, loss=kind, margin=margin, q=Q)
    images = 3 if kind == "triplet" else 2
    net_param = caffe_pb2().NetParameter(name="tiny", force_backward=True)
    data = net_param.layer.add(name="pair_data", type="Input", top=["pair_data", "sim"])
    data.input_param.shape.add(dim=[batch, images, 3, 3])
    data.input_param.shape.add(dim=[batch])
    net_param.layer.extend(layer for layer in built.layer if layer.type != "Data")
    if loss_layers is not None:
        del net_param.layer[-len(losses_of(net_param)) :]
        net_param.layer.extend(loss_layers)
    return _net_file(net_param, tmp_path, f"tiny_{kind}.prototxt")


def losses_of(net_param):
    return [
        layer for layer in net_param.layer if layer.name == "loss" or layer.name.startswith("loss_")
    ]


def _load(path, seed=3, batch=6):
    import caffe

    caffe.set_random_seed(seed)
    net = caffe.Net(path, caffe.TRAIN)
    rng = np.random.default_rng(seed)
    net.blobs["pair_data"].data[...] = rng.normal(size=net.blobs["pair_data"].data.shape)
    net.blobs["sim"].data[...] = np.arange(batch) % 2  # half same-class, half different
    return net


def param_gradients(net):
    """The towers' shared param gradients (Net::ShareWeights shares diffs too), from one
    backward."""
    for blobs in net.params.values():
        for blob in blobs:
            blob.diff[...] = 0
    net.forward()
    net.backward()
    return np.concatenate(
        [b.diff.ravel().copy() for name in ("ip1", "feat") for b in net.params[name]]
    )


def finite_differences(net, step):
    grads = []
    for name in ("ip1", "feat"):
        for blob in net.params[name]:
            flat = blob.data.reshape(-1)
            for i in range(flat.size):
                keep = flat[i]
                flat[i] = keep + step
                up = float(net.forward()["loss"])
                flat[i] = keep - step
                down = float(net.forward()["loss"])
                flat[i] = keep
                grads.append((up - down) / (2 * step))
    return np.array(grads)


def relative_error(a, b):
    return np.linalg.norm(a - b) / np.linalg.norm(b)


@pytest.mark.parametrize("kind", ["chopra2005", "triplet"])
def test_backward_equals_finite_differences(kind, tmp_path):
    net = _load(tiny_net(kind, tmp_path, margin=2.0))
    caffe_grads = param_gradients(net)
    if kind == "triplet":  # the hinge both passes and blocks gradients in this batch
        hinge = net.blobs["loss_hinge"].data
        assert (hinge > 0).any() and (hinge == 0).any()
    # float32 losses near 1: a 3e-3 step balances rounding (~1e-7/3e-3) and truncation (~1e-5);
    # measured errors are about 5e-5, so 5e-4 still catches any wrong term or factor.
    fd = finite_differences(net, 3e-3)
    assert np.linalg.norm(fd) > 1e-2
    assert relative_error(caffe_grads, fd) < 5e-4
    assert np.abs(caffe_grads - fd).max() < 5e-4 * np.abs(fd).max()


def composed_contrastive(margin, legacy):
    """Caffe's ContrastiveLoss written with the same stock layers as the composed losses."""
    if legacy:  # max(margin - d^2, 0)
        far = [
            losses.affine("loss_gap", "loss_dist2", scale=-1, shift=margin),
            losses.layer("loss_far", "ReLU", ["loss_gap"]),
        ]
    else:  # max(margin - d, 0)^2
        far = losses.distance() + [
            losses.affine("loss_gap", "loss_dist", scale=-1, shift=margin),
            losses.layer("loss_hinge", "ReLU", ["loss_gap"]),
            losses.affine("loss_far", "loss_hinge", power=2),
        ]
    return (
        losses.squared_distance("feat", "feat_p")
        + far
        + losses.label_weighted_mean("sim", "loss_dist2", "loss_far", coeff=0.5)
    )


@pytest.mark.parametrize("legacy", [False, True])
def test_composed_contrastive_equals_caffes_layer(legacy, tmp_path):
    kind = "contrastive-legacy" if legacy else "contrastive"
    theirs = _load(tiny_net(kind, tmp_path, margin=2.0))
    (tmp_path / "composed").mkdir()
    ours = _load(
        tiny_net(kind, tmp_path / "composed", composed_contrastive(2.0, legacy), margin=2.0)
    )
    assert [layer.type for layer in ours.layers].count("ContrastiveLoss") == 0
    for name in ("ip1", "feat"):
        for mine, caffes in zip(ours.params[name], theirs.params[name]):
            mine.data[...] = caffes.data
    g_theirs, g_ours = param_gradients(theirs), param_gradients(ours)
    assert float(ours.blobs["loss"].data) == pytest.approx(
        float(theirs.blobs["loss"].data), rel=1e-5
    )
    a, p = ours.blobs["feat"].data, ours.blobs["feat_p"].data
    far = np.sqrt(((a - p) ** 2).sum(1))[ours.blobs["sim"].data == 0]
    assert (far < 2.0).any() and (
        far > 2.0
    ).any()  # different-class pairs on both sides of the margin
    # Caffe's non-legacy backward divides by (d + 1e-4) rather than d (measured 1e-5 here).
    assert relative_error(g_ours, g_theirs) < (1e-6 if legacy else 1e-4)
