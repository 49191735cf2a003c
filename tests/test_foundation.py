"""The real Caffe that make setup installs: pycaffe, the caffe binary, doctor, the installer."""

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from conftest import run_tool

from caffesiam.caffe import locate, platform
from caffesiam.caffe.glog import glog_env
from caffesiam.caffe.locate import caffe_binary

SMALL_NET = textwrap.dedent("""
    name: "small"
    force_backward: true
    layer { name: "data" type: "Input" top: "data" input_param { shape { dim: 4 dim: 3 } } }
    layer { name: "ip" type: "InnerProduct" bottom: "data" top: "ip"
            inner_product_param { num_output: 2 weight_filler { type: "gaussian" std: 0.5 } } }
    layer { name: "loss" type: "EuclideanLoss" bottom: "ip" bottom: "target" top: "loss" }
    layer { name: "target" type: "Input" top: "target" input_param { shape { dim: 4 dim: 2 } } }
""")


@pytest.mark.caffe
def test_pycaffe_forward_backward_matches_numpy(tmp_path):
    import caffe

    path = tmp_path / "small.prototxt"
    # Input layers must come before their consumers.
    lines = SMALL_NET.strip().splitlines()
    path.write_text("\n".join(lines[:3] + [lines[-1]] + lines[3:-1]))
    net = caffe.Net(str(path), caffe.TEST)
    rng = np.random.default_rng(0)
    x, t = rng.normal(size=(4, 3)), rng.normal(size=(4, 2))
    net.blobs["data"].data[...] = x
    net.blobs["target"].data[...] = t
    loss = net.forward()["loss"]
    w, b = net.params["ip"][0].data, net.params["ip"][1].data
    y = x @ w.T + b
    assert loss == pytest.approx(np.sum((y - t) ** 2) / (2 * 4), rel=1e-5)
    net.backward()
    expected_dw = ((y - t) / 4).T @ x
    np.testing.assert_allclose(net.params["ip"][0].diff, expected_dw, rtol=1e-4, atol=1e-6)


@pytest.mark.caffe
def test_caffe_binary_times_a_small_net(tmp_path):
    path = tmp_path / "time.prototxt"
    path.write_text(
        textwrap.dedent("""
        layer { name: "data" type: "Input" top: "data"
                input_param { shape { dim: 8 dim: 1 dim: 12 dim: 12 } } }
        layer { name: "conv" type: "Convolution" bottom: "data" top: "conv"
                convolution_param { num_output: 4 kernel_size: 3
                                    weight_filler { type: "xavier" } } }
    """)
    )
    out = subprocess.run(
        [caffe_binary(), "time", "-model", str(path), "-iterations", "3"],
        capture_output=True,
        text=True,
        timeout=120,
        env=dict(os.environ, **glog_env(full_log=True)),
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert "Average Forward-Backward:" in out.stderr
    assert "conv\tforward:" in out.stderr


@pytest.mark.caffe
@pytest.mark.slow
def test_doctor_reports_a_working_install():
    out = run_tool("doctor")
    assert out.returncode == 0, out.stdout + out.stderr
    for part in ("Python", "caffe binary", "pycaffe", "caffe_pb2", "BLAS", "LevelDB", "LMDB"):
        assert any(line.startswith("ok") and part in line for line in out.stdout.splitlines()), part
    # The release found and this Python, in the words of os-release and sys.
    release = platform.parse_os_release(Path("/etc/os-release").read_text())["PRETTY_NAME"]
    assert re.search(rf"^(ok|--) +system +{re.escape(release)}", out.stdout, re.M)
    python = f"{sys.version.split()[0]} ({sys.executable})"
    assert re.search(rf"^ok +Python +{re.escape(python)}$", out.stdout, re.M)
    # The standalone file that gen-net loads, not pycaffe's copy (doctor imports pycaffe too).
    assert re.search(
        rf"^ok +caffe_pb2 \(standalone\) +{re.escape(str(locate.caffe_pb2_file()))}$",
        out.stdout,
        re.M,
    )


@pytest.mark.slow
def test_doctor_names_the_fix_when_caffe_is_missing(tmp_path):
    env = dict(os.environ, CAFFESIAM_CAFFE_HOME=str(tmp_path / "nowhere"))
    out = run_tool("doctor", env=env)
    assert out.returncode == 1
    assert "MISSING caffe binary" in out.stdout
    assert "make setup" in out.stdout + out.stderr
    assert "Traceback" not in out.stderr


@pytest.mark.slow
def test_every_command_has_help_and_version():
    from caffesiam.cli import main

    assert run_tool("--version").stdout.startswith("caffesiam, version ")
    names = main.list_commands(None)
    assert {"build-db", "inspect-db", "gen-net", "train", "draw", "doctor"} <= set(names)
    for name in names:
        out = run_tool(name, "--help")
        assert out.returncode == 0 and "Usage:" in out.stdout, name


@pytest.mark.parametrize(
    "args, message",
    [
        (["nosuch"], "caffesiam: error: No such command 'nosuch' (see caffesiam --help)"),
        (["evaluate", "--db", "x"], "caffesiam evaluate: error: Missing option '--model'"),
        (
            ["build-db", "digits", "--pairs", "0"],
            "Invalid value for '--pairs': 0 is not in the range x>=1",
        ),
        (["gen-solver", "--max-iter", "ten", "net.prototxt"], "'ten' is not a valid integer"),
    ],
)
def test_usage_errors_are_one_line_with_exit_2(args, message):
    out = run_tool(*args)
    assert out.returncode == 2 and out.stdout == ""
    assert out.stderr.count("\n") == 1 and message in out.stderr, out.stderr
