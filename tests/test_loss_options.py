"""gen-net --loss, build-db --triplets, the pair/triplet database check, and drawing the nets."""

import re

import numpy as np
import pytest
from conftest import REPO, dot_source
from PIL import Image

from caffesiam.caffe.proto import caffe_pb2, parse_text
from caffesiam.draw.labels import summary
from caffesiam.net.siamese import build_deploy
from caffesiam.spec.load import load_tower
from caffesiam.spec.params import shared_param_names
from caffesiam.train.rundir import CAFFE_LOG

LENET = REPO / "templates/lenet.yaml"


def generate(cli, *args):
    result = cli("gen-net", LENET, *args)
    assert result.exit_code == 0, result.stderr
    return parse_text(result.stdout, caffe_pb2().NetParameter())


def by_name(net):
    return {layer.name: layer for layer in net.layer}


@pytest.mark.caffe
def test_chopra2005_is_readable_stock_layers_with_q(cli):
    net = generate(cli, "--loss", "chopra2005", "--q", 4)
    layers = by_name(net)
    assert not [layer for layer in net.layer if "Loss" in layer.type or layer.type == "Python"]
    assert layers["loss_dist2"].reduction_param.operation == caffe_pb2().ReductionParameter.SUMSQ
    assert layers["loss_same_cost"].power_param.scale == pytest.approx(2 / 4)
    assert layers["loss_different_exp"].exp_param.scale == pytest.approx(-2.77 / 4)
    assert layers["loss_different_cost"].power_param.scale == pytest.approx(2 * 4)
    assert list(layers["loss_dissim"].bottom) == ["sim"]  # the paper's Y = 1 - sim
    assert net.layer[-1].name == "loss" and list(net.layer[-1].loss_weight) == [1]
    assert [layer for layer in net.layer if layer.loss_weight] == [net.layer[-1]]


@pytest.mark.caffe
def test_triplet_has_three_sharing_towers_and_a_silenced_label(cli):
    net = generate(cli, "--loss", "triplet", "--margin", 0.5)
    layers = by_name(net)
    assert list(layers["slice_pair"].top) == ["data", "data_p", "data_n"]
    assert list(layers["slice_pair"].slice_param.slice_point) == [1, 2]
    assert set(shared_param_names(net).values()) == {3}
    assert len(shared_param_names(net)) == 10  # w and b of conv1, conv2, ip1, ip2, feat
    assert list(layers["conv1_n"].bottom) == ["data_n"]
    assert list(layers["silence_sim"].bottom) == ["sim"]
    assert layers["loss_gap_margin"].power_param.shift == pytest.approx(0.5)
    assert net.layer[-1].name == "loss" and list(net.layer[-1].loss_weight) == [1]


@pytest.mark.caffe
@pytest.mark.parametrize("loss", ["contrastive-legacy", "chopra2005", "triplet"])
def test_deploy_is_one_tower_for_every_loss(cli, loss):
    assert generate(cli, "--deploy", "--loss", loss) == build_deploy(load_tower(LENET))


@pytest.mark.caffe
def test_legacy_loss_flag_still_works(cli):
    a = generate(cli, "--legacy-loss")
    assert a == generate(cli, "--loss", "contrastive-legacy")
    assert by_name(a)["loss"].contrastive_loss_param.legacy_version


@pytest.mark.caffe
@pytest.mark.parametrize(
    "args, message",
    [
        (["--loss", "chopra2005", "--q", 0], "--q"),
        (["--loss", "chopra2005", "--q", -1], "--q"),
        (["--loss", "triplet", "--margin", -0.5], "--margin"),
        (["--q", 3], "--q applies to --loss chopra2005"),
        (["--loss", "triplet", "--legacy-loss"], "--legacy-loss"),
        (["--loss", "hinge"], "--loss"),
    ],
)
def test_bad_loss_options_exit_2(cli, args, message):
    result = cli("gen-net", LENET, *args)
    assert result.exit_code == 2
    assert message in result.stderr and "Traceback" not in result.stderr


@pytest.mark.caffe
def test_spec_q_and_loss_type(cli, tmp_path):
    text = LENET.read_text().replace("type: contrastive", "type: chopra2005\n  q: 2")
    (tmp_path / "c.yaml").write_text(text)
    result = cli("gen-net", tmp_path / "c.yaml")
    assert result.exit_code == 0, result.stderr
    assert "loss_different_exp" in result.stdout and "scale: -1.385" in result.stdout
    (tmp_path / "bad.yaml").write_text(text.replace("q: 2", "q: 0"))
    result = cli("gen-net", tmp_path / "bad.yaml")
    assert result.exit_code == 2
    assert (
        "loss.q must be a finite number > 0" in result.stderr
        and len(result.stderr.strip().splitlines()) == 1
    )


@pytest.mark.caffe
def test_third_tower_name_collision_is_refused(cli, tmp_path):
    text = LENET.read_text().replace("name: pool2", "name: conv2_n")
    (tmp_path / "t.yaml").write_text(text)
    assert cli("gen-net", tmp_path / "t.yaml").exit_code == 0  # fine for pairs
    result = cli("gen-net", tmp_path / "t.yaml", "--loss", "triplet")
    assert result.exit_code == 2 and "'conv2_n' already exists" in result.stderr


# ---- build-db --triplets ---------------------------------------------------------------------


@pytest.fixture
def image_folder(tmp_path):
    """3 classes x 5 images whose pixels say which class and image they are."""
    root = tmp_path / "shapes"
    for c in range(3):
        (root / f"class{c}").mkdir(parents=True)
        for k in range(5):
            Image.fromarray(np.full((4, 4), 16 * c + k + 1, np.uint8)).save(
                root / f"class{c}/{k}.png"
            )
    return root


def read_records(path):
    import plyvel

    from caffesiam.caffe.proto import caffe_pb2 as pb2

    out = []
    with plyvel.DB(str(path)) as db:
        for key, value in db:
            datum = pb2().Datum()
            datum.ParseFromString(value)
            pixels = np.frombuffer(datum.data, np.uint8).reshape(
                datum.channels, datum.height, datum.width
            )
            out.append((key, datum.channels, datum.label, [int(p[0, 0]) for p in pixels]))
    return out


@pytest.mark.caffe
def test_build_db_triplets(cli, image_folder, tmp_path):
    args = (
        "build-db",
        "images",
        image_folder,
        "--triplets",
        "--pairs",
        200,
        "--test-fraction",
        0.4,
    )
    result = cli(*args, "--out", tmp_path / "a")
    assert result.exit_code == 0, result.stderr
    assert "200 triplets" in result.stdout
    records = read_records(tmp_path / "a/shapes_triplet_train_leveldb")
    assert len(records) == 200
    for _, channels, label, (a, p, n) in records:
        assert channels == 3 and label == 0
        assert (a - 1) // 16 == (
            p - 1
        ) // 16 and a != p  # anchor and positive: same class, two images
        assert (a - 1) // 16 != (n - 1) // 16  # negative: another class
    assert (
        len({(a, n) for *_, (a, p, n) in records}) > 25
    )  # sampled: 9 train anchors x 6 negatives possible
    assert cli(*args, "--out", tmp_path / "b").exit_code == 0  # seeded: same bytes again
    assert read_records(tmp_path / "b/shapes_triplet_train_leveldb") == records
    shown = cli("inspect-db", tmp_path / "a/shapes_triplet_train_leveldb").stdout
    assert "(triplets (anchor, positive, negative) of 1-channel images)" in shown
    assert "positives" not in shown


@pytest.mark.parametrize("flag", ["--caffe-compat", "--allow-self"])
def test_triplets_refuse_pair_only_flags(cli, image_folder, tmp_path, flag):
    result = cli("build-db", "images", image_folder, "--triplets", flag, "--out", tmp_path)
    assert result.exit_code == 2 and flag in result.stderr
    assert not list(tmp_path.glob("*_leveldb"))


# ---- a pair database for a triplet net, and the reverse -------------------------------------


@pytest.fixture
def both_dbs(cli, image_folder, tmp_path):
    for extra in ([], ["--triplets"]):
        result = cli(
            "build-db", "images", image_folder, "--size", "28x28", "--out", tmp_path, *extra
        )
        assert result.exit_code == 0, result.stderr
    return {
        kind: {split: tmp_path / f"shapes_{kind}_{split}_leveldb" for split in ("train", "test")}
        for kind in ("siamese", "triplet")
    }


@pytest.mark.caffe
@pytest.mark.parametrize(
    "loss, dbs, hint",
    [
        ("triplet", "siamese", "this is a pair database: build triplets with"),
        ("contrastive", "triplet", "this is a triplet database"),
    ],
)
def test_wrong_database_kind_is_named_by_gen_net_and_train(
    cli, both_dbs, tmp_path, loss, dbs, hint
):
    sources = ["--train-source", both_dbs[dbs]["train"], "--test-source", both_dbs[dbs]["test"]]
    result = cli("gen-net", LENET, "--loss", loss, *sources)
    assert result.exit_code == 2 and hint in result.stderr
    assert result.stdout == ""
    # train's pre-flight catches a net written before the database was (re)built
    right = "triplet" if dbs == "siamese" else "siamese"
    ok = ["--train-source", both_dbs[right]["train"], "--test-source", both_dbs[right]["test"]]
    net = tmp_path / "net.prototxt"
    assert cli("gen-net", LENET, "--loss", loss, *ok, "-o", net).exit_code == 0
    net.write_text(net.read_text().replace(f"shapes_{right}_", f"shapes_{dbs}_"))
    assert (
        cli("gen-solver", net, "-o", tmp_path / "solver.prototxt", "--max-iter", 1).exit_code == 0
    )
    result = cli("train", tmp_path / "solver.prototxt", "--blas-threads", 1)
    assert result.exit_code == 2 and hint in result.stderr
    assert not list(tmp_path.rglob(CAFFE_LOG))


# ---- draw -------------------------------------------------------------------------------------


def clusters(source):
    """{cluster name: layer names inside} of a dot source."""
    found = {}
    for name, body in re.findall(r"subgraph cluster_(\w+) \{(.*?)\n\t\}", source, re.S):
        found[name] = set(re.findall(r"<B>([^<]+)</B>", body))
    return found


@pytest.mark.caffe
def test_triplet_net_draws_three_towers_and_one_loss_group(cli):
    net = generate(cli, "--loss", "triplet")
    groups = clusters(dot_source(net))
    assert {"tower", "tower_p", "tower_n", "pair_in", "pair_out"} <= set(groups)
    assert {"conv1", "feat"} <= groups["tower"] and {"conv1_n", "feat_n"} <= groups["tower_n"]
    loss_layers = {layer.name for layer in net.layer if layer.name.startswith("loss")}
    assert len(loss_layers) == 8 and loss_layers <= groups["pair_out"]
    assert "label=loss" in dot_source(net)
    share_labels = re.findall(r'label="?([a-z0-9_, ]+)"? [^\]]*style=dashed', dot_source(net))
    assert share_labels.count("conv1_w, conv1_b") == 2  # tower–_p and _p–_n


@pytest.mark.caffe
def test_composed_layers_have_readable_summaries(cli):
    layers = by_name(generate(cli, "--loss", "chopra2005", "--q", 5))
    assert summary(layers["loss_diff"]) == "SUM  coeff 1, -1"
    assert summary(layers["loss_dist2"]) == "SUMSQ axis 1"
    assert summary(layers["loss_dist"]) == "(1e-12 + x)^0.5"
    assert summary(layers["loss_dissim"]) == "1 - x"
    assert summary(layers["loss_different_exp"]) == "e^(-0.554·x)"
    assert summary(layers["loss"]) == "MEAN axis 0"


@pytest.mark.caffe
def test_gen_net_skips_a_database_that_a_training_holds(cli, both_dbs):
    import plyvel

    train_db = both_dbs["siamese"]["train"]
    with plyvel.DB(str(train_db)):  # locked, as while Caffe trains on it
        result = cli("gen-net", LENET, "--loss", "triplet", "--train-source", train_db)
    assert result.exit_code == 0, result.stderr
