"""gen-net and gen-solver against Caffe's own siamese example and the real Caffe."""

import gc
import os
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest
from conftest import REPO, read_net

from caffesiam.caffe.glog import glog_env
from caffesiam.caffe.locate import caffe_binary, layer_types
from caffesiam.caffe.proto import caffe_pb2, parse_text, read_text, to_text
from caffesiam.net.siamese import build_deploy, build_siamese
from caffesiam.spec.load import load_tower
from caffesiam.spec.params import param_count

pytestmark = pytest.mark.caffe

TEMPLATES = sorted((REPO / "templates").glob("*.yaml"))
EXAMPLE_SOURCES = [
    "--train-source",
    "examples/siamese/mnist_siamese_train_leveldb",
    "--test-source",
    "examples/siamese/mnist_siamese_test_leveldb",
]


def generate(cli, *args):
    result = cli("gen-net", *args)
    assert result.exit_code == 0, result.stderr
    return parse_text(result.stdout, caffe_pb2().NetParameter())


def test_lenet_template_is_protobuf_equal_to_caffes_example(cli, caffe_src):
    net = generate(cli, REPO / "templates/lenet.yaml", *EXAMPLE_SOURCES)
    expected = read_net(caffe_src / "examples/siamese/mnist_siamese_train_test.prototxt")
    assert net == expected
    assert parse_text(to_text(net), caffe_pb2().NetParameter()) == net


def test_lenet_without_example_sources_differs_only_in_sources(cli, caffe_src):
    net = generate(cli, REPO / "templates/lenet.yaml")
    expected = read_net(caffe_src / "examples/siamese/mnist_siamese_train_test.prototxt")
    for layer in list(net.layer[:2]) + list(expected.layer[:2]):
        layer.data_param.ClearField("source")
    assert net == expected


def _with_batch(path: Path, batch: int, tmp_path: Path) -> Path:
    text = re.sub(r"dim: 10000", f"dim: {batch}", path.read_text())
    out = tmp_path / path.name
    out.write_text(text)
    return out


def test_deploy_matches_caffes_deploy_net(cli, caffe_src, tmp_path):
    import caffe

    result = cli("gen-net", "--deploy", "--deploy-batch", 2, REPO / "templates/lenet.yaml")
    ours = tmp_path / "ours.prototxt"
    ours.write_text(result.stdout)
    theirs = _with_batch(caffe_src / "examples/siamese/mnist_siamese.prototxt", 2, tmp_path)
    a, b = caffe.Net(str(ours), caffe.TEST), caffe.Net(str(theirs), caffe.TEST)
    assert list(a._layer_names) == list(b._layer_names)
    assert [layer.type for layer in a.layers] == [layer.type for layer in b.layers]
    assert {k: v.data.shape for k, v in a.blobs.items()} == {
        k: v.data.shape for k, v in b.blobs.items()
    }
    assert {k: [p.data.shape for p in v] for k, v in a.params.items()} == {
        k: [p.data.shape for p in v] for k, v in b.params.items()
    }


def _siamese_file(cli, spec, dbs, tmp_path, *extra):
    result = cli(
        "gen-net",
        spec,
        "--train-source",
        dbs["train"],
        "--test-source",
        dbs["test"],
        "--batch-size",
        8,
        "--test-batch-size",
        8,
        *extra,
    )
    assert result.exit_code == 0, result.stderr
    path = tmp_path / f"{Path(spec).stem}_train_test.prototxt"
    path.write_text(result.stdout)
    return path


def _shared_pairs(net_param):
    """(owner layer, twin layer, blob index) for every shared blob."""
    owner = {}
    pairs = []
    for layer in net_param.layer:
        for k, spec in enumerate(layer.param):
            if spec.name in owner:
                pairs.append((owner[spec.name][0], layer.name, k))
            elif spec.name:
                owner[spec.name] = (layer.name, k)
    return pairs


def _color_dbs(tmp_path, fashion_test):
    """6-channel 32×32 pairs made from real Fashion-MNIST digits, for the colour template."""
    from conftest import write_pair_db

    images, labels = fashion_test
    rgb = np.stack([np.pad(images[:64], ((0, 0), (2, 2), (2, 2)))] * 3, axis=1)
    sims = (labels[:32] == labels[32:64]).astype(int)
    return {
        split: write_pair_db(tmp_path / f"color_{split}_leveldb", rgb[:32], rgb[32:64], sims)
        for split in ("train", "test")
    }


def _spec_dbs(spec, fashion_pair_dbs, lmdb_pairs, tmp_path, fashion_test):
    if "color" in spec.name:
        return _color_dbs(tmp_path, fashion_test)
    return lmdb_pairs if load_tower(spec).data.backend == "lmdb" else fashion_pair_dbs


@pytest.mark.slow
@pytest.mark.parametrize("spec", TEMPLATES, ids=lambda p: p.stem)
def test_every_template_loads_in_caffe_with_shared_memory(
    cli, spec, fashion_pair_dbs, lmdb_pairs, tmp_path, fashion_test
):
    import caffe

    path = _siamese_file(
        cli, spec, _spec_dbs(spec, fashion_pair_dbs, lmdb_pairs, tmp_path, fashion_test), tmp_path
    )
    net_param = read_net(path)
    pairs = _shared_pairs(net_param)
    tower = load_tower(spec)
    assert len(pairs) == sum(param_count(layer) for layer in tower.layers) > 0
    for phase in (caffe.TRAIN, caffe.TEST):
        net = caffe.Net(str(path), phase)
        net.forward()
        for owner, twin, k in pairs:
            a, b = net.params[owner][k].data, net.params[twin][k].data
            assert a.__array_interface__["data"][0] == b.__array_interface__["data"][0]
            a.flat[0] = 0.123
            assert b.flat[0] == pytest.approx(0.123)
        del net, a, b
        gc.collect()  # Caffe's Data layer holds the LevelDB lock until the net is freed


@pytest.mark.slow
@pytest.mark.parametrize(
    "name",
    ["examples/siamese/mnist_siamese.prototxt", "models/bvlc_reference_caffenet/deploy.prototxt"],
)
def test_caffes_deploy_nets_become_loadable_siamese_nets(
    cli, caffe_src, name, tmp_path, fashion_test
):
    import caffe
    from conftest import write_pair_db

    tower = load_tower(caffe_src / name)
    c, h, w = tower.data.channels, tower.data.height, tower.data.width
    images, labels = fashion_test
    pixels = np.resize(images[:4], (4, c, h, w))
    db = write_pair_db(tmp_path / "db", pixels[:2], pixels[2:], [1, 0])
    path = _siamese_file(
        cli,
        caffe_src / name,
        {"train": db, "test": db},
        tmp_path,
        "--batch-size",
        2,
        "--test-batch-size",
        2,
    )
    net = caffe.Net(str(path), caffe.TEST)
    assert net.blobs["data"].data.shape == (2, c, h, w)
    assert net.blobs["data_p"].data.shape == (2, c, h, w)
    assert len(_shared_pairs(read_net(path))) == sum(param_count(layer) for layer in tower.layers)
    del net
    gc.collect()


@pytest.mark.slow
def test_training_logs_sharing_and_keeps_towers_identical(cli, fashion_pair_dbs, tmp_path):
    spec = REPO / "templates/lenet.yaml"
    net_path = _siamese_file(cli, spec, fashion_pair_dbs, tmp_path)
    solver = cli(
        "gen-solver",
        net_path,
        "--max-iter",
        5,
        "--test-iter",
        2,
        "--test-interval",
        5,
        "--snapshot",
        1,
        "--snapshot-prefix",
        tmp_path / "snap",
        "-o",
        tmp_path / "solver.prototxt",
    )
    assert solver.exit_code == 0, solver.stderr
    log = subprocess.run(
        [caffe_binary(), "train", "-solver", str(tmp_path / "solver.prototxt")],
        capture_output=True,
        text=True,
        timeout=300,
        env=dict(os.environ, **glog_env(full_log=True)),
    )
    assert log.returncode == 0, log.stderr[-3000:]
    sharing = re.findall(r"Sharing parameters '(\w+)' owned by layer '(\w+)'", log.stderr)
    expected = {
        (spec_.name, layer.name)
        for layer in read_net(net_path).layer
        for spec_ in layer.param
        if not layer.name.endswith("_p")
    }
    # Caffe logs each shared blob once per net it builds (train and test).
    assert len(sharing) == 2 * len(expected) and set(sharing) == expected
    first, last = (
        {
            layer.name: layer.blobs
            for layer in read_binary_net(tmp_path / f"snap_iter_{i}.caffemodel").layer
        }
        for i in (1, 5)
    )
    shared = _shared_pairs(read_net(net_path))
    for owner, twin, k in shared:
        np.testing.assert_array_equal(last[owner][k].data, last[twin][k].data)
    # Iterations 2-5 moved every shared weight, and both towers' copies moved together. (Biases
    # after the last ReLU get no gradient: the loss sees feat - feat_p, in which they cancel.)
    moved = {(o, k) for o, _, k in shared if not np.array_equal(first[o][k].data, last[o][k].data)}
    assert {(o, k) for o, _, k in shared if k == 0} <= moved


def read_binary_net(path):
    net = caffe_pb2().NetParameter()
    net.ParseFromString(Path(path).read_bytes())
    return net


def test_pseudo_siamese_shares_nothing(cli):
    net = generate(cli, "--pseudo", REPO / "templates/lenet.yaml")
    assert not any(spec.name for layer in net.layer for spec in layer.param)
    assert {layer.name for layer in net.layer} >= {"conv1", "conv1_p", "feat", "feat_p"}


def test_options_reach_the_net(cli):
    net = generate(
        cli,
        REPO / "templates/lenet.yaml",
        "--backend",
        "lmdb",
        "--batch-size",
        32,
        "--margin",
        2.5,
        "--legacy-loss",
    )
    train, test = net.layer[0], net.layer[1]
    assert train.data_param.backend == caffe_pb2().DataParameter.LMDB
    assert train.data_param.source == "mnist_siamese_train_lmdb"
    assert test.data_param.source == "mnist_siamese_test_lmdb"
    assert train.data_param.batch_size == 32
    loss = net.layer[-1].contrastive_loss_param
    assert loss.margin == 2.5 and loss.legacy_version


def test_feature_size_resizes_the_output_layer_of_both_nets(cli, tmp_path):
    relu = REPO / "templates/lenet_relu.yaml"
    net = generate(cli, relu, "--feature-size", 7)
    deploy = generate(cli, relu, "--deploy", "--feature-size", 7)
    plain = generate(cli, relu)
    sizes = {
        layer.name: layer.inner_product_param.num_output
        for layer in net.layer
        if layer.type == "InnerProduct"
    }
    assert sizes == {"ip1": 500, "feat": 7, "ip1_p": 500, "feat_p": 7}
    assert deploy.layer[-1].name == "feat" and deploy.layer[-1].inner_product_param.num_output == 7
    assert len(net.layer) == len(plain.layer)
    for layer, before in zip(net.layer, plain.layer):  # nothing else changed
        if layer.name not in ("feat", "feat_p"):
            assert layer == before
    spec = tmp_path / "ends_in_relu.yaml"  # the output is rewritten in place by a final ReLU
    spec.write_text(relu.read_text() + "  - name: relu_feat\n    type: ReLU\n")
    out = generate(cli, spec, "--feature-size", 3)
    assert (
        next(layer for layer in out.layer if layer.name == "feat").inner_product_param.num_output
        == 3
    )
    pooled = tmp_path / "ends_in_pooling.yaml"
    pooled.write_text(relu.read_text().split("  - name: ip1")[0])
    bad = cli("gen-net", pooled, "--feature-size", 3)
    assert bad.exit_code == 2 and "'pool2' (Pooling) has none" in bad.stderr and not bad.stdout


def test_color_template_slices_rgb_pairs_and_freezes_batchnorm(cli):
    net = generate(cli, REPO / "templates/color_bn.yaml")
    slice_layer = next(layer for layer in net.layer if layer.type == "Slice")
    assert list(slice_layer.slice_param.slice_point) == [3]
    bn = next(layer for layer in net.layer if layer.name == "bn1_p")
    assert [(p.name, p.lr_mult) for p in bn.param] == [
        ("bn1_mean", 0),
        ("bn1_var", 0),
        ("bn1_factor", 0),
    ]
    conv = next(layer for layer in net.layer if layer.name == "conv1")
    assert [p.name for p in conv.param] == ["conv1_w"]  # bias_term: false
    scale = next(layer for layer in net.layer if layer.name == "scale1_p")
    assert [p.name for p in scale.param] == ["scale1_w", "scale1_b"]
    prelu = next(layer for layer in net.layer if layer.name == "relu2_p")
    assert prelu.bottom == prelu.top == ["conv2_p"] and [p.name for p in prelu.param] == [
        "relu2_slope"
    ]


def test_gen_solver_defaults_follow_caffes_example(cli, caffe_src, tmp_path):
    net = tmp_path / "net.prototxt"
    net.write_text(cli("gen-net", REPO / "templates/lenet.yaml").stdout)
    result = cli("gen-solver", net, "--max-iter", 3000)
    solver = parse_text(result.stdout, caffe_pb2().SolverParameter())
    example = read_text(
        caffe_src / "examples/siamese/mnist_siamese_solver.prototxt", caffe_pb2().SolverParameter()
    )
    for field in (
        "test_iter",
        "test_interval",
        "base_lr",
        "momentum",
        "lr_policy",
        "gamma",
        "power",
        "display",
        "snapshot",
    ):
        assert getattr(solver, field) == getattr(example, field), field
    assert solver.max_iter == 3000 and solver.net == str(net)
    assert solver.HasField("layer_wise_reduce") and not solver.layer_wise_reduce
    assert solver.solver_mode == caffe_pb2().SolverParameter.CPU
    pseudo = tmp_path / "pseudo.prototxt"
    pseudo.write_text(cli("gen-net", "--pseudo", REPO / "templates/lenet.yaml").stdout)
    assert "layer_wise_reduce" not in cli("gen-solver", pseudo, "--gpu").stdout


def test_deploy_and_siamese_from_same_spec_share_layer_names():
    tower = load_tower(REPO / "templates/lenet.yaml", layer_types())
    deploy = {layer.name for layer in build_deploy(tower).layer} - {"data"}
    siamese = {layer.name for layer in build_siamese(tower).layer}
    assert deploy <= siamese
