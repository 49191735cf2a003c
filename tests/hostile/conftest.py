"""Small real inputs for the hostile battery: a pair database, a deploy net with weights, an image
folder, a pair list, a training log and a fast training set-up (all session-wide, copied where a
case changes them)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO

from caffesiam.caffe.glog import glog_env
from hostile.helpers import run

LOG_LINES = [
    "I1123 10:00:00.000000  1 solver.cpp:218] Iteration 0 (0 iter/s, 0.1s/10 iters), loss = 0.5",
    "I1123 10:00:00.100000  1 solver.cpp:237]     Train net output #0: loss = 0.5 (* 1 = 0.5 loss)",
    "I1123 10:00:01.000000  1 solver.cpp:218] Iteration 10 (10 iter/s, 1s/10 iters), loss = 0.25",
]


@pytest.fixture(scope="session")
def hostile_root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("hostile")


@pytest.fixture(scope="session")
def pair_db(hostile_root) -> Path:
    """64 real Fashion-MNIST test pairs in a LevelDB (only read by the cases)."""
    out = hostile_root / "db"
    done = run("build-db", "fashion-mnist", "--split", "test", "--test-pairs", 64, "--out", out)
    assert done.returncode == 0, done.stderr
    return out / "fashion_mnist_siamese_test_leveldb"


@pytest.fixture(scope="session")
def model(hostile_root):
    """(deploy net, .caffemodel that fits it) for templates/lenet.yaml, weights from pycaffe."""
    deploy, weights = hostile_root / "deploy.prototxt", hostile_root / "w.caffemodel"
    assert run("gen-net", REPO / "templates/lenet.yaml", "--deploy", "-o", deploy).returncode == 0
    subprocess.run(
        [
            sys.executable,
            "-c",
            "import caffe, sys; caffe.Net(sys.argv[1], caffe.TEST).save(sys.argv[2])",
            str(deploy),
            str(weights),
        ],
        check=True,
        env=dict(os.environ, **glog_env(full_log=False)),
    )
    return deploy, weights


@pytest.fixture(scope="session")
def images_dir(hostile_root) -> Path:
    """ROOT/<class>/<image>: two classes of six 8x8 grey PNGs."""
    from PIL import Image

    root = hostile_root / "images"
    for c, name in enumerate(("cats", "dogs")):
        (root / name).mkdir(parents=True)
        for i in range(6):
            Image.new("L", (8, 8), 20 * i + 100 * c).save(root / name / f"{i}.png")
    return root


@pytest.fixture(scope="session")
def pair_list(images_dir) -> Path:
    path = images_dir.parent / "pairs.txt"
    path.write_text(
        "images/cats/0.png images/cats/1.png 1\nimages/cats/2.png images/dogs/3.png 0\n"
        "images/dogs/4.png images/dogs/5.png 1\n"
    )
    return path


@pytest.fixture(scope="session")
def log_file(hostile_root) -> Path:
    path = hostile_root / "train.log"
    path.write_text("\n".join(LOG_LINES) + "\n")
    return path


@pytest.fixture
def read_only_dir(tmp_path) -> Path:
    """A directory no write can land in: a read-only tmpfs under root, else mode 0555."""
    path = tmp_path / "read_only"
    path.mkdir()
    if os.geteuid() != 0:
        path.chmod(0o555)
        yield path
        path.chmod(0o755)
        return
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(path)]).returncode:
        pytest.skip("root, but cannot mount a read-only tmpfs here")
    yield path
    subprocess.run(["umount", str(path)], check=True)


@pytest.fixture
def small_disk(tmp_path):
    """mount(size) -> a fresh tmpfs of that many KiB; needs root (skipped without it)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    mounted = []

    def mount(kib: int) -> Path:
        path = tmp_path / f"disk{len(mounted)}"
        path.mkdir()
        if subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={kib}k", "tmpfs", str(path)]
        ).returncode:
            pytest.skip("root, but cannot mount a tmpfs here")
        mounted.append(path)
        return path

    yield mount
    for path in mounted:
        subprocess.run(["umount", "-l", str(path)], check=True)
