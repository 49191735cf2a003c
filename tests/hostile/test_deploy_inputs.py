"""Class: a deploy prototxt given where a tower spec goes gets the checks a YAML spec gets. An
Input of no size, a layer that makes no blob, a layer with no name or type: one line naming the
layer and the field, exit 2, nothing written (gen-net, and export, which reads the same net)."""

import pytest

from hostile.helpers import changes, refused, run, snapshot

pytestmark = [pytest.mark.caffe, pytest.mark.slow]  # one process per case

INPUT = 'layer { name: "in" type: "Input" top: "x" input_param { shape { DIMS } } }\n'
IP = 'layer { name: "ip" type: "InnerProduct" bottom: "x" top: "ip" %s}\n'
NUM_OUTPUT = "inner_product_param { num_output: 10 } "
DIMS = "dim: 1 dim: 1 dim: 28 dim: 28"


def deploy(dims: str = DIMS, input_layer: str = INPUT, layer: str = IP % NUM_OUTPUT) -> str:
    return 'name: "t"\n' + input_layer.replace("DIMS", dims) + layer


CASES = {
    "zero dim": (
        deploy("dim: 1 dim: 0 dim: 28 dim: 28"),
        ["layer 'in'", "input_param.shape.dim[1] is 0", "from 1 to"],
    ),
    "negative dim": (
        deploy("dim: 1 dim: 1 dim: -3 dim: 28"),
        ["layer 'in'", "input_param.shape.dim[2] is -3"],
    ),
    "zero batch": (deploy("dim: 0 dim: 1 dim: 28 dim: 28"), ["input_param.shape.dim[0] is 0"]),
    "dim past int32": (
        deploy("dim: 1 dim: 3000000000 dim: 28 dim: 28"),
        ["input_param.shape.dim[1] is 3000000000"],
    ),
    "no top": (
        deploy(layer=IP.replace('top: "ip" ', "") % NUM_OUTPUT),
        ["layer 'ip'", "no top"],
    ),
    "input without top": (
        deploy(input_layer=INPUT.replace('top: "x" ', "")),
        ["layer 'in'", "no top"],
    ),
    "no name": (
        deploy(layer=IP.replace('name: "ip" ', "") % NUM_OUTPUT),
        ["layer[1]", "every layer needs a name and a type"],
    ),
    "no type": (
        deploy(layer=IP.replace('type: "InnerProduct" ', "") % NUM_OUTPUT),
        ["layer[1] (ip)", "every layer needs a name and a type"],
    ),
    "empty top": (
        deploy(layer=IP.replace('top: "ip"', 'top: ""') % NUM_OUTPUT),
        ["layer 'ip'", "an empty top name"],
    ),
}


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("deploy_flag", [[], ["--deploy"]], ids=["train_test", "deploy"])
def test_gen_net_checks_a_prototxt_as_a_yaml_spec(case, deploy_flag, tmp_path):
    text, words = CASES[case]
    net = tmp_path / "tower.prototxt"
    net.write_text(text)
    before = snapshot(tmp_path)
    line = refused(run("gen-net", net, *deploy_flag, "-o", tmp_path / "out.prototxt"), 2, *words)
    assert str(net) in line
    assert changes(before, tmp_path) == set()


def test_export_checks_the_input_shape(tmp_path, model):
    _, weights = model
    net = tmp_path / "deploy.prototxt"
    net.write_text(model[0].read_text().replace("dim: 28", "dim: 0", 1))
    before = snapshot(tmp_path)
    refused(
        run("export", net, weights, "-o", tmp_path / "tower.onnx"),
        2,
        str(net),
        "input_param.shape.dim[2] is 0",
    )
    assert changes(before, tmp_path) == set()
