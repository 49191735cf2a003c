"""caffesiam draw: every Caffe net, the siamese structure, shared params, and bad input."""

import html
import io
import os
import re
from pathlib import Path

import pytest
from conftest import dot_source, run_tool
from PIL import Image

from caffesiam.caffe.netload import load_net, parse_net, v1_type_name
from caffesiam.caffe.proto import caffe_pb2, to_text
from caffesiam.draw.graph import build_graph
from caffesiam.draw.labels import summary
from caffesiam.draw.structure import find_towers, param_problems, select_phase
from caffesiam.errors import SpecError

SIAMESE = "examples/siamese/mnist_siamese_train_test.prototxt"
REPO = Path(__file__).resolve().parents[1]
_NODE = re.compile(r"(L\d+) \[label=<<B>([^<]+)</B>")
_LABEL = re.compile(r"^\s*L\d+ \[label=<<B>([^<]+)</B>(.*)> color=\"#", re.M)
_SHARE = re.compile(
    r"(L\d+) -> (L\d+) \[label=\"?([^\"\]]*?)\"? color=\"(#\w+)\"[^\]]*style=dashed"
)


def _is_net(path) -> bool:
    """True when the prototxt parses as a net (solvers do not), as Caffe's test_draw tells them
    apart."""
    try:
        load_net(path)
        return True
    except SpecError:
        return False


def _caffe_nets():
    from caffesiam.caffe.locate import caffe_source

    src = caffe_source()
    files = sorted(p for d in ("examples", "models") for p in (src / d).rglob("*.prototxt"))
    return [p for p in files if _is_net(p)]


def _names(source):
    """{node id: layer name} of a dot source."""
    return dict(_NODE.findall(source))


def _shares(source):
    """{(layer a, layer b): (label, colour)} of the dashed shared-param edges."""
    names = _names(source)
    return {(names[a], names[b]): (label, colour) for a, b, label, colour in _SHARE.findall(source)}


@pytest.fixture
def siamese(caffe_src):
    return load_net(caffe_src / SIAMESE)


@pytest.mark.caffe
def test_the_corpus_holds_nets_and_solvers(caffe_src):
    nets = _caffe_nets()
    assert len(nets) >= 25
    assert caffe_src / SIAMESE in nets
    assert not any("solver" in p.name for p in nets)


@pytest.mark.caffe
@pytest.mark.slow
@pytest.mark.parametrize("phase", ["ALL", "TRAIN", "TEST"])
def test_every_caffe_net_draws(phase):
    folded = 0
    for path in _caffe_nets():
        net = load_net(path)
        source = dot_source(net, phase=phase, detail="high")
        labels = {html.unescape(name): rest for name, rest in _LABEL.findall(source)}
        # Every layer of the phase is a node, or folded into the node of the latest drawn layer
        # that writes the blob it rewrites in place, on a line naming its type and name.
        layers = select_phase(net, phase)
        for i, layer in enumerate(layers):
            if layer.name in labels:
                continue
            host = next(
                h for h in reversed(layers[:i]) if h.name in labels and layer.top[0] in h.top
            )
            name = re.escape(html.escape(layer.name))
            line = rf"<BR/>\+ {re.escape(layer.type)}\b[^<]*\({name}\)(<BR/>|$)"
            assert re.search(line, labels[host.name]), (path, layer.name, host.name)
            folded += 1
    assert folded > 100  # ReLUs, Dropouts, BatchNorms and Scales of the corpus


@pytest.mark.caffe
@pytest.mark.slow
@pytest.mark.parametrize(
    "net, args",
    [
        (SIAMESE, []),
        ("examples/mnist/lenet_train_test.prototxt", ["--rankdir", "LR", "--phase", "TRAIN"]),
        ("examples/cifar10/cifar10_full_sigmoid_train_test_bn.prototxt", ["--detail", "high"]),
        ("models/bvlc_googlenet/deploy.prototxt", ["--rankdir", "BT"]),
    ],
)
def test_png_is_a_plausible_image(cli, caffe_src, tmp_path, net, args):
    out = tmp_path / "net.png"
    result = cli("draw", caffe_src / net, "-o", out, *args)
    assert result.exit_code == 0, result.stderr
    image = Image.open(io.BytesIO(out.read_bytes()))
    image.verify()
    assert image.format == "PNG"
    assert 200 <= max(image.size) <= 30000 and min(image.size) >= 50


@pytest.mark.caffe
@pytest.mark.parametrize("ext, magic", [("svg", b"<?xml"), ("pdf", b"%PDF"), ("dot", b"digraph")])
def test_other_formats(cli, caffe_src, tmp_path, ext, magic):
    out = tmp_path / f"net.{ext}"
    assert cli("draw", caffe_src / SIAMESE, "-o", out).exit_code == 0
    assert out.read_bytes().startswith(magic)


@pytest.mark.caffe
def test_siamese_has_two_towers_a_pair_group_and_shared_edges(siamese):
    source = dot_source(siamese)
    for cluster in ("cluster_tower ", "cluster_tower_p ", "cluster_pair_in ", "cluster_pair_out "):
        assert f"subgraph {cluster}" in source
    shares = _shares(source)
    assert shares[("conv1", "conv1_p")] == ("conv1_w, conv1_b", "#1565C0")
    assert set(shares) == {(n, n + "_p") for n in ("conv1", "conv2", "ip1", "ip2", "feat")}
    assert "#D32F2F" not in source  # nothing red in Caffe's own, correct example


@pytest.mark.caffe
def test_tower_membership(siamese):
    towers = find_towers(select_phase(siamese, "TRAIN"))
    assert towers.members[""] == ["conv1", "pool1", "conv2", "pool2", "ip1", "relu1", "ip2", "feat"]
    assert towers.members["_p"] == [n + "_p" for n in towers.members[""]]


def _param(net, layer_name):
    return next(layer for layer in net.layer if layer.name == layer_name).param


@pytest.mark.caffe
def test_a_dropped_param_name_is_red(siamese):
    _param(siamese, "conv2_p")[0].ClearField("name")
    source = dot_source(siamese)
    label, colour = _shares(source)[("conv2", "conv2_p")]
    assert colour == "#D32F2F" and label == "conv2_b (!)"
    assert "conv2_w: not shared" in source
    assert _shares(source)[("conv1", "conv1_p")][1] == "#1565C0"


@pytest.mark.caffe
@pytest.mark.parametrize(
    "change, problem",
    [
        (lambda net: setattr(_param(net, "ip1_p")[0], "lr_mult", 2), "ip1_w: lr_mult differs"),
        (
            lambda net: setattr(
                next(x for x in net.layer if x.name == "conv1_p").convolution_param,
                "num_output",
                30,
            ),
            "conv1_w: shape differs",
        ),
    ],
)
def test_mismatched_shares_are_red(siamese, change, problem):
    change(siamese)
    bad = param_problems(select_phase(siamese, "ALL"), find_towers(select_phase(siamese, "ALL")))
    assert problem.split(": ")[0] in bad
    assert problem in dot_source(siamese)


@pytest.mark.caffe
def test_summaries_and_in_place_folding(siamese):
    layers = {layer.name: layer for layer in siamese.layer}
    assert summary(layers["conv1"]) == "kernel 5×5  stride 1  pad 0  → 20"
    assert summary(layers["pool1"]) == "MAX  kernel 2×2  stride 2"
    assert summary(layers["ip1"]) == "→ 500"
    assert summary(layers["loss"]) == "margin 1"
    source = dot_source(siamese)
    assert "relu1" not in _names(source).values()
    assert "<B>ip1</B><BR/>InnerProduct  → 500<BR/>+ ReLU>" in source


@pytest.mark.caffe
def test_phases(siamese):
    def data_nodes(phase):
        return [n for n in _names(dot_source(siamese, phase=phase)).values() if n == "pair_data"]

    assert len(data_nodes("ALL")) == 2
    assert len(data_nodes("TRAIN")) == 1
    assert "batch 100" in dot_source(siamese, phase="TEST")
    assert "batch 100" not in dot_source(siamese, phase="TRAIN")
    assert "rankdir=LR" in dot_source(siamese, rankdir="LR")


def _triplet(net):
    """Caffe's siamese example with a third tower `_n`, a three-way Slice and a loss over all
    three."""
    layers = list(net.layer)
    loss = layers.pop()
    for layer in [x for x in layers if x.name.endswith("_p")]:
        twin = caffe_pb2().LayerParameter()
        twin.CopyFrom(layer)
        twin.name = layer.name[:-2] + "_n"
        for field in (twin.bottom, twin.top):
            for i, blob in enumerate(field):
                field[i] = blob[:-2] + "_n" if blob.endswith("_p") else blob
        layers.append(twin)
    slice_pair = next(x for x in layers if x.name == "slice_pair")
    slice_pair.top.append("data_n")
    slice_pair.slice_param.slice_point.append(2)
    loss.bottom.insert(2, "feat_n")
    del net.layer[:]
    net.layer.extend(layers + [loss])
    return net


@pytest.mark.caffe
def test_triplet_draws_three_towers(siamese):
    source = dot_source(_triplet(siamese))
    for cluster in ("cluster_tower ", "cluster_tower_p ", "cluster_tower_n ", "cluster_pair_out "):
        assert f"subgraph {cluster}" in source
    assert "ellipse" not in source  # every blob has its producer
    shares = _shares(source)
    assert shares[("conv1_p", "conv1_n")] == ("conv1_w, conv1_b", "#1565C0")
    assert ("conv1", "conv1_n") not in shares  # neighbours only, so no edge crosses a tower


V1_NET = """
name: "v1_siamese"
input: "data" input_dim: 1 input_dim: 1 input_dim: 28 input_dim: 28
input: "data_p" input_dim: 1 input_dim: 1 input_dim: 28 input_dim: 28
input: "sim" input_dim: 1 input_dim: 1 input_dim: 1 input_dim: 1
layers { name: "conv1" type: CONVOLUTION bottom: "data" top: "conv1"
  param: "conv1_w" param: "conv1_b" blobs_lr: 1 blobs_lr: 2
  convolution_param { num_output: 8 kernel_size: 28 } }
layers { name: "relu1" type: RELU bottom: "conv1" top: "conv1" }
layers { name: "conv1_p" type: CONVOLUTION bottom: "data_p" top: "conv1_p"
  param: "conv1_w" param: "conv1_b" blobs_lr: 1 blobs_lr: 2
  convolution_param { num_output: 8 kernel_size: 28 } }
layers { name: "loss" type: CONTRASTIVE_LOSS bottom: "conv1" bottom: "conv1_p" bottom: "sim"
  top: "loss"
  contrastive_loss_param { margin: 2 } }
"""


@pytest.mark.caffe
def test_v1_layers_and_input_fields_are_upgraded():
    net = parse_net(V1_NET, "v1.prototxt")
    assert [(x.name, x.type) for x in net.layer][:2] == [
        ("input", "Input"),
        ("conv1", "Convolution"),
    ]
    assert [list(s.dim) for s in net.layer[0].input_param.shape][1:] == [
        [1, 1, 28, 28],
        [1, 1, 1, 1],
    ]
    assert [(p.name, p.lr_mult) for p in net.layer[1].param] == [("conv1_w", 1), ("conv1_b", 2)]
    source = dot_source(net)
    assert _shares(source)[("conv1", "conv1_p")] == ("conv1_w, conv1_b", "#1565C0")
    assert "margin 2" in source and "+ ReLU" in source


def test_v1_type_names():
    assert v1_type_name("CONTRASTIVE_LOSS") == "ContrastiveLoss"
    assert v1_type_name("SOFTMAX_LOSS") == "SoftmaxWithLoss"
    assert v1_type_name("INNER_PRODUCT") == "InnerProduct"
    assert v1_type_name("HDF5_DATA") == "HDF5Data"


@pytest.mark.caffe
def test_generated_nets_draw_with_their_towers():
    from caffesiam.net.siamese import build_deploy, build_siamese
    from caffesiam.spec.load import load_tower

    templates = sorted((REPO / "templates").glob("*.yaml"))
    assert templates
    for template in templates:
        tower = load_tower(template)
        source = dot_source(build_siamese(tower))
        assert "subgraph cluster_tower_p " in source, template
        assert _shares(source) and "#D32F2F" not in source, template
        assert "cluster_" not in dot_source(build_deploy(tower)), template
        pseudo = dot_source(build_siamese(tower, pseudo=True))
        assert "subgraph cluster_tower_p " in pseudo and not _shares(pseudo), template


@pytest.mark.caffe
@pytest.mark.slow
def test_shapes_on_edges(cli, caffe_src, tmp_path):
    out = tmp_path / "conv.dot"
    result = cli("draw", caffe_src / "examples/net_surgery/conv.prototxt", "-o", out, "--shapes")
    assert result.exit_code == 0, result.stderr
    assert "1×1×100×100" in out.read_text()
    assert "without shapes" not in result.stderr


@pytest.mark.caffe
@pytest.mark.slow
def test_shapes_of_a_v1_siamese_net(cli, tmp_path):
    net = tmp_path / "v1.prototxt"
    net.write_text(V1_NET)
    out = tmp_path / "v1.dot"
    result = cli("draw", net, "-o", out, "--shapes")
    assert result.exit_code == 0 and "without shapes" not in result.stderr, result.stderr
    source = out.read_text()
    assert "data_p\\n1×1×28×28" in source and 'L4 [label="1×8×1×1"]' in source
    assert _shares(source)[("conv1", "conv1_p")] == ("conv1_w, conv1_b", "#1565C0")


@pytest.mark.caffe
@pytest.mark.slow
def test_shapes_unavailable_still_draws(cli, caffe_src, tmp_path):
    out = tmp_path / "s.dot"
    result = cli("draw", caffe_src / SIAMESE, "-o", out, "--shapes", "--phase", "TRAIN")
    assert result.exit_code == 0
    assert "drawing without shapes" in result.stderr and "leveldb" in result.stderr.lower()
    assert "cluster_tower_p" in out.read_text()


@pytest.mark.caffe
def test_solver_by_mistake_names_its_net(cli, caffe_src, tmp_path):
    result = cli(
        "draw",
        caffe_src / "examples/siamese/mnist_siamese_solver.prototxt",
        "-o",
        tmp_path / "x.png",
    )
    assert result.exit_code == 2
    assert "solver" in result.stderr
    assert "examples/siamese/mnist_siamese_train_test.prototxt" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.caffe
def test_unparsable_prototxt_gives_line_and_column(cli, caffe_src, tmp_path):
    bad = tmp_path / "bad.prototxt"
    text = (
        (caffe_src / SIAMESE).read_text().replace('type: "Pooling"', 'type: "Pooling" kernal: 2', 1)
    )
    bad.write_text(text)
    line = text.splitlines().index(next(s for s in text.splitlines() if "kernal" in s)) + 1
    result = cli("draw", bad, "-o", tmp_path / "x.png")
    assert result.exit_code == 2
    assert re.search(rf"bad\.prototxt:{line}:\d+: .*kernal", result.stderr), result.stderr
    assert not (tmp_path / "x.png").exists()


@pytest.mark.caffe
@pytest.mark.parametrize(
    "args, message",
    [
        (["-o", "x.jpg"], "unknown output type"),
        (["-o", "x.png", "--rankdir", "XY"], "XY"),
    ],
)
def test_bad_options_exit_2(cli, caffe_src, args, message):
    result = cli("draw", caffe_src / SIAMESE, *args)
    assert result.exit_code == 2 and message in result.stderr


@pytest.mark.caffe
def test_missing_net_and_empty_net_exit_2(cli, tmp_path):
    assert cli("draw", tmp_path / "none.prototxt", "-o", tmp_path / "x.png").exit_code == 2
    empty = tmp_path / "empty.prototxt"
    empty.write_text('name: "nothing"\n')
    result = cli("draw", empty, "-o", tmp_path / "x.png")
    assert result.exit_code == 2 and "no layers" in result.stderr


@pytest.mark.caffe
def test_missing_dot_names_graphviz(caffe_src, tmp_path):
    env = dict(os.environ, PATH=str(tmp_path))  # no dot anywhere on PATH
    result = run_tool("draw", caffe_src / SIAMESE, "-o", tmp_path / "x.png", env=env)
    assert result.returncode == 1
    assert "graphviz" in result.stderr and "Traceback" not in result.stderr
    # Writing the source needs no dot at all.
    assert run_tool("draw", caffe_src / SIAMESE, "-o", tmp_path / "x.dot", env=env).returncode == 0


@pytest.mark.caffe
def test_graph_round_trips_through_text(siamese):
    again = parse_net(to_text(siamese))
    assert build_graph(again).source == build_graph(siamese).source
