"""Bad specs: one line naming the problem, exit code 2, nothing on stdout."""

import textwrap

import pytest
from conftest import REPO, run_tool

pytestmark = pytest.mark.caffe

CONV = """\
  - name: conv1
    type: Convolution
    convolution_param: {num_output: 4, kernel_size: 3}
"""

# The spec file starts with "name: t" and "tower:", so the first layer is on line 3.
CASES = {
    "unknown layer type": (
        CONV + "  - name: warp\n    type: Warp\n",
        "line 6",
        "unknown layer type 'Warp'",
    ),
    "unknown field": (
        "  - name: conv1\n    type: Convolution\n    convolution_param:\n"
        "      num_output: 4\n      kernel_sise: 3\n",
        "line 7",
        "unknown field 'kernel_sise'",
    ),
    "mistyped field": (
        "  - name: conv1\n    type: Convolution\n    convolution_param:\n      num_output: four\n",
        "line 6",
        "expected an integer",
    ),
    "bad enum": (
        CONV + "  - name: pool\n    type: Pooling\n    pooling_param: {pool: MEDIAN}\n",
        "line 8",
        "expected one of MAX, AVE, STOCHASTIC",
    ),
    "duplicate layer names": (
        CONV + CONV.replace("conv1", "conv1", 1),
        "line 6",
        "duplicate layer name 'conv1'",
    ),
    "bottom nothing produces": (
        CONV + "  - name: ip\n    type: InnerProduct\n    bottom: pool9\n"
        "    inner_product_param: {num_output: 2}\n",
        "line 6",
        "bottom 'pool9' is produced by no earlier layer",
    ),
    "_p collision": (CONV + CONV.replace("conv1", "conv1_p"), "", "'conv1_p' already exists"),
    "no learnable layer": (
        "  - name: pool\n    type: Pooling\n    pooling_param: {pool: MAX, kernel_size: 2}\n",
        "",
        "no learnable layer",
    ),
}


def _spec(tmp_path, tower_yaml):
    path = tmp_path / "spec.yaml"
    path.write_text("name: t\ntower:\n" + tower_yaml)
    return path


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_bad_spec_fails_cleanly(tmp_path, case):
    tower_yaml, line, message = CASES[case]
    out = run_tool("gen-net", _spec(tmp_path, tower_yaml))
    assert out.returncode == 2
    assert out.stdout == ""
    assert message in out.stderr
    if line:
        assert f"spec.yaml:{line.split()[1]}:" in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1 and "Traceback" not in out.stderr


@pytest.mark.slow
@pytest.mark.parametrize(
    "text,message",
    [
        ("", "non-empty YAML mapping"),
        ("- just\n- a list\n", "non-empty YAML mapping"),
        ("name: t\n", "'tower' must be a non-empty list"),
        ("name: t\ntower: [\n", "invalid YAML"),
        ("name: t\nmodel: x\ntower: []\n", "unknown key 'model'"),
        (
            "name: t\nloss: {margin: -1}\ntower:\n" + CONV,
            "loss.margin must be a finite number >= 0",
        ),
    ],
)
def test_malformed_yaml_fails_cleanly(tmp_path, text, message):
    path = tmp_path / "spec.yaml"
    path.write_text(text)
    out = run_tool("gen-net", path)
    assert (out.returncode, out.stdout) == (2, "")
    assert message in out.stderr


def test_missing_spec_and_bad_prototxt(tmp_path):
    out = run_tool("gen-net", tmp_path / "nope.yaml")
    assert out.returncode == 2 and "nope.yaml" in out.stderr
    bad = tmp_path / "net.prototxt"
    bad.write_text('layer {\n  name: "a"\n  typo: "x"\n}\n')
    out = run_tool("gen-net", bad)
    assert (out.returncode, out.stdout) == (2, "")
    assert "net.prototxt:3:" in out.stderr


def test_output_file_is_not_touched_on_failure(tmp_path):
    target = tmp_path / "net.prototxt"
    target.write_text("previous content")
    out = run_tool("gen-net", _spec(tmp_path, CASES["no learnable layer"][0]), "-o", target)
    assert out.returncode == 2
    assert target.read_text() == "previous content"
    out = run_tool("gen-net", REPO / "templates/lenet.yaml", "-o", target)
    assert out.returncode == 0 and 'name: "mnist_siamese_train_test"' in target.read_text()


def test_explicit_inplace_and_dag_bottoms(tmp_path):
    """Explicit bottoms allow branches; explicit tops override the in-place default."""
    spec = tmp_path / "dag.yaml"
    spec.write_text(
        textwrap.dedent("""\
        name: dag
        tower:
          - {name: a, type: InnerProduct, inner_product_param: {num_output: 4}}
          - {name: b, type: InnerProduct, bottom: data, inner_product_param: {num_output: 4}}
          - {name: relu_b, type: ReLU, top: b_relu}
          - {name: cat, type: Concat, bottom: [a, b_relu]}
          - {name: out, type: InnerProduct, inner_product_param: {num_output: 2}}
    """)
    )
    out = run_tool("gen-net", spec)
    assert out.returncode == 0, out.stderr
    assert 'bottom: "a_p"\n  bottom: "b_relu_p"' in out.stdout
    assert 'name: "relu_b_p"\n  type: "ReLU"\n  bottom: "b_p"\n  top: "b_relu_p"' in out.stdout


@pytest.mark.slow
@pytest.mark.parametrize(
    "args, message",
    [
        (["--lr-policy", "step"], "lr_policy step needs --stepsize"),
        (["--lr-policy", "multistep"], "lr_policy multistep needs --stepvalue"),
        (["--lr-policy", "fixed", "--gamma", "0.1"], "--gamma does not apply to lr_policy fixed"),
        (["--stepsize", "100"], "--stepsize does not apply to lr_policy inv"),
        (
            ["--lr-policy", "multistep", "--stepvalue", "900", "--stepvalue", "700"],
            "--stepvalue must increase",
        ),
        (
            ["--lr-policy", "multistep", "--stepvalue", "5000", "--max-iter", "3000"],
            "stay below --max-iter 3000",
        ),
    ],
)
def test_gen_solver_lr_schedule_mistakes_exit_2(tmp_path, args, message):
    net = tmp_path / "net.prototxt"
    net.write_text(run_tool("gen-net", REPO / "templates/lenet.yaml").stdout)
    out = run_tool("gen-solver", net, *args, "-o", tmp_path / "solver.prototxt")
    assert out.returncode == 2 and message in out.stderr and out.stderr.count("\n") == 1, out.stderr
    assert not (tmp_path / "solver.prototxt").exists()
