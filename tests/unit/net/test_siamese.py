"""net.siamese: a Tower twinned into train_test and deploy nets, in process."""

import textwrap

import pytest

from caffesiam.errors import SpecError
from caffesiam.net.siamese import build_deploy, build_siamese, with_feature_size
from caffesiam.spec.load import tower_from_yaml

pytestmark = pytest.mark.caffe

SPEC = """\
data: {channels: 3, height: 8, width: 8, batch_size: 4, test_batch_size: 5}
tower:
  - {name: conv1, type: Convolution, convolution_param: {num_output: 2, kernel_size: 3}}
  - {name: bn1, type: BatchNorm}
  - {name: relu1, type: ReLU}
  - name: feat
    type: InnerProduct
    param: [{lr_mult: 1, name: mine}, {lr_mult: 2}]
    inner_product_param: {num_output: 4}
"""


def tower(text=SPEC):
    return tower_from_yaml(textwrap.dedent(text), "spec.yaml")


def by_name(net) -> dict:
    return {layer.name: layer for layer in net.layer}


def test_the_pair_net_in_the_order_of_caffes_example():
    net = build_siamese(tower())
    assert net.name == "spec_train_test"
    assert [layer.name for layer in net.layer] == [
        "pair_data",
        "pair_data",
        "slice_pair",
        "conv1",
        "bn1",
        "relu1",
        "feat",
        "conv1_p",
        "bn1_p",
        "relu1_p",
        "feat_p",
        "loss",
    ]
    train, test = net.layer[:2]
    assert [(d.data_param.batch_size, list(d.top)) for d in (train, test)] == [
        (4, ["pair_data", "sim"]),
        (5, ["pair_data", "sim"]),
    ]
    assert [rule.phase for d in (train, test) for rule in d.include] == [0, 1]  # TRAIN, TEST
    assert not train.data_param.HasField("backend")  # LevelDB, Caffe's default, left unset
    assert train.transform_param.scale == pytest.approx(1 / 256)
    cut = net.layer[2]
    assert (list(cut.bottom), list(cut.top)) == (["pair_data"], ["data", "data_p"])
    assert list(cut.slice_param.slice_point) == [3]  # the channels of one image
    loss = net.layer[-1]
    assert (loss.type, list(loss.bottom)) == ("ContrastiveLoss", ["feat", "feat_p", "sim"])


def test_twins_read_and_write_suffixed_blobs():
    layers = by_name(build_siamese(tower()))
    assert [(list(layers[n].bottom), list(layers[n].top)) for n in ("conv1_p", "relu1_p")] == [
        (["data_p"], ["conv1_p"]),
        (["conv1_p"], ["conv1_p"]),
    ]


def test_every_learnable_blob_gets_one_name_that_both_towers_use():
    layers = by_name(build_siamese(tower()))
    names = {n: [p.name for p in layers[n].param] for n in ("conv1", "bn1", "feat", "relu1")}
    assert names == {
        "conv1": ["conv1_w", "conv1_b"],
        "bn1": ["bn1_mean", "bn1_var", "bn1_factor"],
        "feat": ["mine", "feat_b"],  # a name the spec gives is kept
        "relu1": [],
    }
    for name in ("conv1", "bn1", "feat"):
        assert layers[name].param == layers[name + "_p"].param
    assert [p.lr_mult for p in layers["feat"].param] == [1, 2]
    assert {(p.lr_mult, p.decay_mult) for p in layers["bn1"].param} == {(0, 0)}


def test_a_pseudo_siamese_net_shares_nothing():
    layers = by_name(build_siamese(tower(), pseudo=True))
    assert [p.name for p in layers["conv1"].param] == []
    assert [p.name for p in layers["feat_p"].param] == ["mine", ""]


def test_overrides_and_another_backend():
    net = build_siamese(
        tower(SPEC.replace("batch_size: 4", "backend: lmdb, batch_size: 4")),
        train_source="a",
        test_source="b",
        batch_size=7,
        test_batch_size=9,
        margin=0.5,
        legacy=True,
    )
    train, test = net.layer[:2]
    assert [(d.data_param.source, d.data_param.batch_size) for d in (train, test)] == [
        ("a", 7),
        ("b", 9),
    ]
    assert train.data_param.backend == test.data_param.backend == 1  # DataParameter.LMDB
    p = net.layer[-1].contrastive_loss_param
    assert (p.margin, p.legacy_version) == (0.5, True)


def test_a_triplet_net_has_three_towers_and_silences_the_label():
    layers = by_name(build_siamese(tower(), loss="triplet"))
    assert list(layers["slice_pair"].top) == ["data", "data_p", "data_n"]
    assert list(layers["slice_pair"].slice_param.slice_point) == [3, 6]
    assert list(layers["conv1_n"].bottom) == ["data_n"]
    assert layers["conv1_n"].param == layers["conv1"].param
    assert (layers["silence_sim"].type, list(layers["silence_sim"].bottom)) == ("Silence", ["sim"])


def test_names_that_collide_with_the_third_tower_or_the_loss_are_refused():
    with pytest.raises(SpecError, match="'relu1_n' already exists, so the third tower"):
        build_siamese(
            tower(SPEC.replace("name: relu1", "name: relu1, top: relu1_n")), loss="triplet"
        )
    with pytest.raises(SpecError, match="the name 'loss_dist' is used by the generated loss"):
        build_siamese(tower(SPEC.replace("name: feat", "name: loss_dist")), loss="chopra2005")


def test_feature_size_resizes_the_layer_that_makes_the_output():
    spec = SPEC + "  - {name: relu_feat, type: ReLU}\n"
    original = tower(spec)
    resized = with_feature_size(original, 16)
    assert by_name(build_deploy(resized))["feat"].inner_product_param.num_output == 16
    assert by_name(build_deploy(original))["feat"].inner_product_param.num_output == 4


def test_feature_size_needs_a_layer_with_outputs_at_the_end():
    spec = SPEC + "  - {name: pool, type: Pooling, pooling_param: {kernel_size: 2}}\n"
    with pytest.raises(SpecError, match="'pool' \\(Pooling\\) has none"):
        with_feature_size(tower(spec), 16)


def test_the_deploy_net_is_one_tower_behind_an_input():
    net = build_deploy(tower(), batch=10)
    assert net.name == "spec"
    assert [layer.name for layer in net.layer] == ["data", "conv1", "bn1", "relu1", "feat"]
    assert list(net.layer[0].input_param.shape[0].dim) == [10, 3, 8, 8]
    assert net.layer[1:] == tower().layers
