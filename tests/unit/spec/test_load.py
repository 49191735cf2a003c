"""spec.load: YAML specs and deploy prototxts into validated Towers, in process."""

import textwrap

import pytest

from caffesiam.errors import SpecError
from caffesiam.spec.load import (
    is_finite_number,
    load_tower,
    tower_from_prototxt,
    tower_from_yaml,
)
from caffesiam.spec.tower import DataSpec, LossSpec

pytestmark = pytest.mark.caffe

TOWER = """\
tower:
  - {name: conv1, type: Convolution, convolution_param: {num_output: 4, kernel_size: 3}}
  - {name: relu1, type: ReLU}
  - {name: pool1, type: Pooling, pooling_param: {pool: MAX, kernel_size: 2}}
  - {name: feat, type: InnerProduct, inner_product_param: {num_output: 2}}
"""


def yaml_tower(text: str, source: str = "spec.yaml", **kwargs):
    return tower_from_yaml(textwrap.dedent(text), source, **kwargs)


def wiring(tower) -> list[tuple[str, list[str], list[str]]]:
    return [(layer.name, list(layer.bottom), list(layer.top)) for layer in tower.layers]


def test_layers_are_sequential_by_default_and_activations_in_place():
    tower = yaml_tower(TOWER, "nets/lenet_small.yaml")
    assert wiring(tower) == [
        ("conv1", ["data"], ["conv1"]),
        ("relu1", ["conv1"], ["conv1"]),
        ("pool1", ["conv1"], ["pool1"]),
        ("feat", ["pool1"], ["feat"]),
    ]
    assert (tower.name, tower.output) == ("lenet_small", "feat")
    assert (tower.data, tower.loss) == (DataSpec(), LossSpec())


def test_explicit_bottoms_and_tops_are_kept():
    tower = yaml_tower(
        TOWER.replace("{name: relu1, type: ReLU}", "{name: relu1, type: ReLU, top: r1}").replace(
            "{name: pool1,", "{name: pool1, bottom: conv1,"
        )
    )
    assert wiring(tower)[1:3] == [
        ("relu1", ["conv1"], ["r1"]),
        ("pool1", ["conv1"], ["pool1"]),
    ]


def test_data_and_loss_sections():
    tower = yaml_tower(
        "name: n\ndata: {backend: lmdb, batch_size: 8, scale: 0.5, channels: 3}\n"
        "loss: {type: chopra2005, margin: 2, q: 4}\n" + TOWER
    )
    assert tower.name == "n"
    assert tower.data == DataSpec(backend="lmdb", batch_size=8, scale=0.5, channels=3)
    assert tower.loss == LossSpec("chopra2005", 2.0, 4.0)
    assert yaml_tower("loss: {legacy_version: true}\n" + TOWER).loss.kind == "contrastive-legacy"


@pytest.mark.parametrize(
    "head, message",
    [
        ("colour: red\n", "spec.yaml:1: spec: unknown key 'colour'"),
        ("data: {batch: 3}\n", "spec.yaml:1: data: unknown key 'batch'"),
        ("data: [1]\n", "spec.yaml: 'data' must be a mapping"),
        ("data: {backend: hdf5}\n", "spec.yaml:1: data.backend must be leveldb or lmdb"),
        ("data: {batch_size: 0}\n", "data.batch_size: expected an integer from 1 to 2147483647"),
        ("data: {height: true}\n", "data.height: expected an integer"),
        ("data: {scale: .nan}\n", "data.scale: expected a finite number > 0, got nan"),
        ("data: {train_source: 3}\n", "data.train_source: expected a string, got 3"),
        ("loss: {type: hinge}\n", "spec.yaml:1: loss.type must be one of contrastive,"),
        ("loss: {margin: -1}\n", "loss.margin must be a finite number >= 0"),
        ("loss: {q: 0}\n", "loss.q must be a finite number > 0"),
        ("name: [a]\n", "spec.yaml:1: name: expected a string, got ['a']"),
    ],
)
def test_bad_sections_name_the_line_and_field(head, message):
    with pytest.raises(SpecError) as caught:
        yaml_tower(head + TOWER)
    assert message in str(caught.value)


@pytest.mark.parametrize(
    "text, message",
    [
        ("- 1\n", "the spec must be a non-empty YAML mapping"),
        ("name: x\n", "'tower' must be a non-empty list of layers"),
        ("tower: []\n", "spec.yaml:1: 'tower' must be a non-empty list of layers"),
        (
            "tower:\n  - {type: ReLU}\n",
            "spec.yaml:2: tower[0]: every layer needs a name and a type",
        ),
    ],
)
def test_a_spec_without_layers_is_refused(text, message):
    with pytest.raises(SpecError) as caught:
        yaml_tower(text)
    assert message in str(caught.value)


@pytest.mark.parametrize(
    "change, message",
    [
        (("relu1, type: ReLU", "conv1, type: ReLU"), "spec.yaml:3: duplicate layer name 'conv1'"),
        (("{name: pool1,", "{name: pool1, bottom: nowhere,"), "bottom 'nowhere' is produced by no"),
        (("name: feat,", "name: sim,"), "the name 'sim' is reserved for the siamese wrapper"),
        (("name: feat,", "name: pool1_p,"), "'pool1_p' already exists, so the twin of 'pool1'"),
    ],
)
def test_towers_that_cannot_be_twinned_are_refused(change, message):
    with pytest.raises(SpecError) as caught:
        yaml_tower(TOWER.replace(*change))
    assert message in str(caught.value)


def test_a_tower_needs_a_learnable_layer():
    with pytest.raises(SpecError, match="the tower has no learnable layer"):
        yaml_tower("tower:\n  - {name: relu, type: ReLU}\n")


def test_layer_types_are_checked_against_the_registry_when_given():
    types = frozenset({"Convolution", "ReLU", "Pooling"})
    with pytest.raises(SpecError, match=r"spec\.yaml:5: layer 'feat': unknown layer type"):
        yaml_tower(TOWER, layer_types=types)
    assert yaml_tower(TOWER, layer_types=types | {"InnerProduct"}).output == "feat"


INPUT = """layer { name: "in" type: "Input" top: "pixels"
  input_param { shape { dim: 1 dim: 3 dim: 32 dim: 30 } } }
"""
IP = """layer { name: "ip" type: "InnerProduct" bottom: "pixels" top: "ip"
  inner_product_param { num_output: 5 } }
"""
DEPLOY = 'name: "small"\n' + INPUT + IP


def test_a_deploy_prototxt_becomes_a_tower_reading_data():
    tower = tower_from_prototxt(DEPLOY, "small.prototxt")
    assert wiring(tower) == [("ip", ["data"], ["ip"])]
    assert (tower.name, tower.output) == ("small", "ip")
    assert (tower.data.channels, tower.data.height, tower.data.width) == (3, 32, 30)


def test_the_old_input_fields_work_too():
    old = 'input: "pixels"\ninput_dim: 1\ninput_dim: 2\ninput_dim: 8\ninput_dim: 9\n' + IP
    tower = tower_from_prototxt(old, "nets/old.prototxt")
    assert tower.name == "old"
    assert wiring(tower) == [("ip", ["data"], ["ip"])]
    assert (tower.data.channels, tower.data.height, tower.data.width) == (2, 8, 9)


@pytest.mark.parametrize(
    "text, message",
    [
        (IP, "expected exactly one input"),
        (INPUT + INPUT.replace('"in"', '"in2"') + IP, "found 2"),
        ('input: "pixels"\n' + INPUT + IP, "found 2"),
        (INPUT, "the net has no layers besides its input"),
    ],
)
def test_a_prototxt_needs_one_input_and_a_layer(text, message):
    with pytest.raises(SpecError, match=message):
        tower_from_prototxt(text, "n.prototxt")


def test_load_tower_reads_by_extension(tmp_path):
    (tmp_path / "t.prototxt").write_text(DEPLOY)
    (tmp_path / "t.yaml").write_text(TOWER)
    assert load_tower(tmp_path / "t.prototxt").output == "ip"
    assert load_tower(tmp_path / "t.yaml").output == "feat"
    with pytest.raises(SpecError, match="absent.yaml"):
        load_tower(tmp_path / "absent.yaml")


@pytest.mark.parametrize(
    "value, finite",
    [(1, True), (0.5, True), (10**400, False), (float("inf"), False), (True, False), ("1", False)],
)
def test_is_finite_number(value, finite):
    assert is_finite_number(value) is finite


@pytest.mark.parametrize(
    "text, message",
    [
        (INPUT.replace("dim: 3", "dim: 0") + IP, "layer 'in': input_param.shape.dim[1] is 0"),
        ('input: "pixels"\ninput_dim: 1\ninput_dim: -2\n' + IP, "input_dim[1] is -2"),
        (INPUT + IP.replace('top: "ip"\n', ""), "layer 'ip': no top"),
        (INPUT.replace('top: "pixels"', "") + IP, "layer 'in' (Input): no top"),
        (INPUT + IP.replace('name: "ip" ', ""), "layer[1]: every layer needs a name and a type"),
        (INPUT + IP.replace('top: "ip"', 'top: ""'), "layer 'ip': an empty top name"),
    ],
)
def test_a_prototxt_gets_the_checks_of_a_yaml_spec(text, message):
    with pytest.raises(SpecError) as caught:
        tower_from_prototxt(text, "n.prototxt")
    assert message in str(caught.value)
