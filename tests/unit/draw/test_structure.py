"""draw.structure: phases, in-place layers, towers found by name and the params they share."""

import pytest

from caffesiam.draw.structure import (
    find_shares,
    find_towers,
    is_in_place,
    layer_phases,
    param_problems,
    select_phase,
)

pytestmark = pytest.mark.caffe


def net(text: str):
    from caffesiam.caffe.proto import caffe_pb2, parse_text

    return parse_text(text, caffe_pb2().NetParameter(), "net")


def ip(name, bottom, top=None, params=()):
    named = " ".join(f'param {{ name: "{p}" }}' for p in params)
    return (
        f'layer {{ name: "{name}" type: "InnerProduct" bottom: "{bottom}" top: "{top or name}" '
        f"{named} inner_product_param {{ num_output: 4 }} }}\n"
    )


PHASED = """
layer { name: "both" type: "ReLU" bottom: "x" top: "x" }
layer { name: "train" type: "ReLU" include { phase: TRAIN } }
layer { name: "test" type: "ReLU" include { phase: TEST } }
layer { name: "not_test" type: "ReLU" exclude { phase: TEST } }
layer { name: "any_stage" type: "ReLU" include { stage: "deploy" } }
layer { name: "split" type: "Slice" bottom: "x" top: "a" top: "b" }
"""


def test_phases_follow_include_and_exclude_rules():
    layers = {layer.name: layer for layer in net(PHASED).layer}
    assert {name: layer_phases(layer) for name, layer in layers.items()} == {
        "both": {"TRAIN", "TEST"},
        "train": {"TRAIN"},
        "test": {"TEST"},
        "not_test": {"TRAIN"},
        "any_stage": {"TRAIN", "TEST"},  # a rule without a phase leaves both
        "split": {"TRAIN", "TEST"},
    }
    names = {
        phase: [layer.name for layer in select_phase(net(PHASED), phase)]
        for phase in ("TRAIN", "TEST", "ALL")
    }
    assert names == {
        "TRAIN": ["both", "train", "not_test", "any_stage", "split"],
        "TEST": ["both", "test", "any_stage", "split"],
        "ALL": ["both", "train", "test", "not_test", "any_stage", "split"],
    }


def test_in_place_means_one_top_that_is_the_first_bottom():
    layers = {layer.name: layer for layer in net(PHASED).layer}
    assert is_in_place(layers["both"])
    assert not is_in_place(layers["split"])
    assert not is_in_place(net(ip("fc", "x")).layer[0])


SIAMESE = (
    ip("fc1", "data", params=["fc1_w", "fc1_b"])
    + 'layer { name: "mix" type: "Concat" bottom: "fc1" bottom: "data" top: "mix" }\n'
    + ip("fc2", "mix", params=["fc2_w", "fc2_b"])
    + ip("fc1_p", "data_p", params=["fc1_w", "fc1_b"])
    + 'layer { name: "mix_other" type: "Concat" bottom: "fc1_p" bottom: "data_p" top: "mix_p" }\n'
    + ip("fc2_p", "mix_p", params=["fc2_w", "fc2_b"])
    + 'layer { name: "loss" type: "ContrastiveLoss" bottom: "fc2" bottom: "fc2_p" bottom: "sim" }\n'
)


def test_towers_are_found_by_twin_names_with_the_layers_between_them():
    towers = find_towers(net(SIAMESE).layer)
    assert towers.suffixes == ["", "_p"]
    assert towers.members == {"": ["fc1", "mix", "fc2"], "_p": ["fc1_p", "mix_other", "fc2_p"]}
    assert towers.twins == [("fc1", "fc1_p"), ("fc2", "fc2_p")]
    assert (towers.tower_of("mix_other"), towers.tower_of("loss")) == ("_p", None)
    assert find_towers(net(ip("fc1", "data") + ip("fc2", "fc1")).layer) is None


def test_a_correct_siamese_net_has_no_problems_and_shares_each_pair_of_twins():
    layers = net(SIAMESE).layer
    towers = find_towers(layers)
    assert param_problems(layers, towers) == {}
    shares = find_shares(layers, towers, {})
    assert [(s.a, s.b, s.names, s.problems) for s in shares] == [
        ("fc1", "fc1_p", ["fc1_w", "fc1_b"], []),
        ("fc2", "fc2_p", ["fc2_w", "fc2_b"], []),
    ]


def siamese_with(change):
    found = net(SIAMESE)
    change({layer.name: layer for layer in found.layer})
    return found.layer


def rename_first_param(layers):
    layers["fc1_p"].param[0].name = "other"


def raise_an_lr_mult(layers):
    layers["fc2_p"].param[0].lr_mult = 3


@pytest.mark.parametrize(
    "change, problems, share_problems",
    [
        (
            rename_first_param,
            {"fc1_w": "not shared", "other": "not shared"},
            ["fc1_w: not shared", "other: not shared"],
        ),
        (raise_an_lr_mult, {"fc2_w": "lr_mult differs"}, ["fc2_w: lr_mult differs"]),
    ],
)
def test_problems_are_found_and_put_on_the_share(change, problems, share_problems):
    layers = siamese_with(change)
    towers = find_towers(layers)
    assert param_problems(layers, towers) == problems
    found = {(s.a, s.b): s.problems for s in find_shares(layers, towers, problems)}
    assert share_problems in found.values()


def test_a_shape_mismatch_is_seen_from_the_config_or_from_real_shapes():
    def widen(layers):
        layers["fc2_p"].inner_product_param.num_output = 5

    layers = siamese_with(widen)
    towers = find_towers(layers)
    assert param_problems(layers, towers) == {"fc2_w": "shape differs", "fc2_b": "shape differs"}
    shapes = {name: [[4, 4], [4]] for name in ("fc1", "fc1_p", "fc2", "fc2_p")}
    assert param_problems(layers, towers, shapes) == {}


def test_sharing_between_layers_that_are_not_twins_by_name_is_found():
    layers = net(ip("left", "a", params=["w"]) + ip("right", "b", params=["w"])).layer
    assert find_towers(layers) is None
    assert param_problems(layers, None) == {}  # without towers, an unshared param is no slip
    assert [(s.a, s.b, s.names) for s in find_shares(layers, None, {})] == [
        ("left", "right", ["w"])
    ]
