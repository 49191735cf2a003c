"""compare and embed --onnx where only `pip install caffesiam[deploy]` ran: a fresh venv, a clean
environment, no Caffe, pycaffe or caffe_pb2 anywhere, and the same answers as here."""

import os
import subprocess
import sys
import tomllib

import numpy as np
import pytest
from conftest import REPO, run_tool
from PIL import Image

pytestmark = [pytest.mark.caffe, pytest.mark.slow, pytest.mark.network]

# what compare and embed import (isal: embed's IDX reader); caffesiam itself goes in with
# --no-deps, so that no Caffe-side dependency (onnx, plyvel, lmdb, matplotlib...) hides a gap
# (pyproject.toml's own requirements, numpy's markers included)
RUNTIME_NAMES = ("click", "numpy", "pillow", "isal")
RUNTIME_PACKAGES = [
    req
    for req in tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    if req.startswith(RUNTIME_NAMES)
] + ["onnxruntime>=1.18"]


def _ok(done):
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    return done


@pytest.fixture(scope="module")
def deployed(tmp_path_factory, fashion_test):
    """A venv with caffesiam[deploy] alone, an exported tower and an image folder."""
    import caffe

    work = tmp_path_factory.mktemp("deployvenv")
    spec = REPO / "templates/lenet_relu.yaml"
    _ok(run_tool("gen-net", spec, "--deploy", "-o", work / "deploy.prototxt"))
    caffe.set_random_seed(5)
    caffe.Net(str(work / "deploy.prototxt"), caffe.TEST).save(str(work / "w.caffemodel"))
    _ok(run_tool("export", work / "deploy.prototxt", work / "w.caffemodel", "-o", work / "t.onnx"))
    images, labels = fashion_test
    for i in range(6):
        folder = work / "images" / str(labels[i])
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(images[i]).save(folder / f"{i}.png")
    source = work / "source"  # a copy, so that the build leaves nothing in the checkout
    source.mkdir()
    for name in ("caffesiam", "pyproject.toml", "README.md"):
        subprocess.run(["cp", "-r", str(REPO / name), str(source / name)], check=True)
    venv = work / "venv"
    _ok(subprocess.run([sys.executable, "-m", "venv", str(venv)], capture_output=True, text=True))
    pip_env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    pip = [str(venv / "bin/python"), "-m", "pip", "install", "-q"]
    _ok(subprocess.run([*pip, *RUNTIME_PACKAGES], capture_output=True, text=True, env=pip_env))
    _ok(
        subprocess.run(
            [*pip, "--no-deps", str(source)], capture_output=True, text=True, env=pip_env
        )
    )
    (work / "no-caffe").mkdir()
    clean_env = {
        "PATH": f"{venv / 'bin'}:/usr/bin:/bin",
        "HOME": str(work),
        "CAFFESIAM_CAFFE_HOME": str(work / "no-caffe"),
    }
    return work, venv, clean_env


def in_venv(deployed, *args):
    work, venv, env = deployed
    return subprocess.run([str(a) for a in args], capture_output=True, text=True, env=env, cwd=work)


def test_the_venv_has_no_caffe_and_its_caffesiam_is_the_copy(deployed):
    work, venv, _ = deployed
    probe = (
        "import importlib.util as u, caffesiam; "
        "print(u.find_spec('caffe'), u.find_spec('caffe_pb2'), caffesiam.__file__)"
    )
    done = _ok(in_venv(deployed, venv / "bin/python", "-c", probe))
    none, none_pb2, where = done.stdout.split()
    assert (none, none_pb2) == ("None", "None")
    assert where.startswith(str(venv))


def test_compare_runs_without_caffe_and_answers_as_here(deployed):
    work, venv, _ = deployed
    a, b = sorted((work / "images").rglob("*.png"))[:2]
    args = ["compare", a, b, "--onnx", work / "t.onnx", "--threshold", 1]
    there = _ok(in_venv(deployed, venv / "bin/caffesiam", *args))
    here = _ok(run_tool(*args))
    assert there.stdout == here.stdout and there.stdout.startswith("distance ")
    run_in_process = (
        "import sys; from caffesiam.cli import main\n"
        f"sys.argv = ['caffesiam', *{[str(x) for x in args]!r}]\n"
        "try:\n    main()\nexcept SystemExit as e:\n    assert not e.code, e.code\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'caffe'))"
    )
    loaded = _ok(in_venv(deployed, venv / "bin/python", "-c", run_in_process))
    assert loaded.stdout.splitlines()[-1] == "[]"  # no caffe, caffe.proto or caffe_pb2 module


def test_embed_onnx_runs_without_caffe_and_gives_the_same_features(deployed):
    work, venv, _ = deployed
    args = ["embed", "--onnx", work / "t.onnx", "--images", work / "images"]
    _ok(in_venv(deployed, venv / "bin/caffesiam", *args, "-o", work / "there.npz"))
    _ok(run_tool(*args, "-o", work / "here.npz"))
    there, here = np.load(work / "there.npz"), np.load(work / "here.npz")
    np.testing.assert_array_equal(there["features"], here["features"])
    np.testing.assert_array_equal(there["labels"], here["labels"])
