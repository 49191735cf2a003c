"""A host that trains only in Docker: `make setup-docker` (install_caffe.sh --proto-only) gives it
caffe_pb2 and no Caffe build, and `train --docker IMAGE` runs every Caffe process in the image.

The host side has a proto-only prefix, no `caffe` on PATH and a pycaffe that refuses to import
(it writes a mark), so any use of a host Caffe fails the test. Training runs in the real
caffesiam:cpu image on a real Docker engine (make docker-check; skipped without one). Only what
that engine cannot do, `--gpus` (it has no NVIDIA runtime), goes through a STAND-IN docker
client: it checks the argv as `docker run` would take it, then runs the command with the image's
environment only (the -e values and an image PATH that has the real Caffe build and caffesiam).
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO, VENV_BIN, docker_engine, run_tool

from caffesiam.caffe.locate import caffe_home
from caffesiam.files import cache_dir
from caffesiam.train.rundir import BLAS_THREADS_JSON, CAFFE_LOG

SCRIPT = REPO / "scripts" / "install_caffe.sh"

ENGINE, NO_ENGINE = docker_engine()

STAND_IN_DOCKER = '''#!{python}
"""STAND-IN for the docker client of an engine with the NVIDIA runtime: checks the argv, then runs
the command with the image's environment and the -e values only."""
import csv, json, os, signal, subprocess, sys
args = sys.argv[1:]
if args == ["--version"]:
    sys.exit(print("Docker version 0 (stand-in)"))
if "STAND_IN_FAIL" in os.environ:  # as docker does when it cannot start the image
    print(os.environ["STAND_IN_FAIL"], file=sys.stderr)
    sys.exit(125)
assert args[:6] == ["run", "--rm", "-i", "--init", "--network", "none"], args
i, mounts, env, workdir, gpus = 6, [], {{}}, None, None
while args[i].startswith("-"):
    opt, val = args[i], args[i + 1]
    i += 2
    if opt == "--gpus":
        gpus = val
    elif opt == "--mount":
        (fields,) = csv.reader([val])
        mount = dict(field.split("=", 1) for field in fields[1:])
        assert fields[0] == "type=bind" and mount["source"] == mount["target"], val
        mounts.append(mount["source"])
    elif opt == "-w":
        workdir = val
    elif opt == "-e":
        key, value = val.split("=", 1)
        env[key] = value
image, inner = args[i], args[i + 1:]
inside = lambda a: any(a == m or a.startswith(m + "/") for m in mounts)
unmounted = [a for a in inner if a.startswith("/") and not inside(a)]
assert not unmounted, unmounted
with open(os.environ["STAND_IN_RECORD"], "a") as record:
    record.write(json.dumps({{"image": image, "mounts": mounts, "inner": inner, "workdir": workdir,
                              "env": env, "gpus": gpus}}) + "\\n")
os.chdir(workdir)
image_env = {{"PATH": "{image_path}", "HOME": "/tmp", "LANG": "C.UTF-8"}}
# As a container does, everything the command started ends with it.
command = subprocess.Popen(inner, env=dict(image_env, **env), start_new_session=True)
status = command.wait()
try:
    os.killpg(command.pid, signal.SIGKILL)
except ProcessLookupError:
    pass
sys.exit(128 - status if status < 0 else status)
'''

HOST_PYCAFFE = '''"""The host's pycaffe, refusing: a Docker-only host has none."""
import os
open(os.environ["HOST_CAFFE_MARK"], "a").write("pycaffe imported on the host\\n")
raise ImportError("no pycaffe on this host (test: Docker-only host)")
'''


def caffe_tarball() -> Path:
    downloads = cache_dir() / "downloads"
    found = sorted(downloads.glob("caffe_*.orig.tar.gz")) + sorted(
        downloads.glob("brocolli-caffe-*.tar.gz")
    )
    if not found:
        pytest.fail(f"no Caffe source tarball in {downloads}; run make setup")
    return found[0]


@pytest.fixture(scope="session")
def proto_only_prefix(tmp_path_factory):
    """What `make setup-docker` installs: install_caffe.sh --proto-only, run for real."""
    cache = tmp_path_factory.mktemp("proto-cache")
    out = subprocess.run(
        ["bash", str(SCRIPT), "--proto-only", "--skip-system-packages"],
        capture_output=True,
        text=True,
        timeout=300,
        env=dict(
            os.environ, CAFFESIAM_CACHE=str(cache), CAFFESIAM_CAFFE_SOURCE=str(caffe_tarball())
        ),
    )
    assert out.returncode == 0, out.stdout + out.stderr
    (prefix,) = cache.glob("caffe-proto-*")
    return prefix


@pytest.fixture(params=["stand-in"])
def docker_host(request, tmp_path_factory, proto_only_prefix):
    """The environment of a Docker-only host, with the stand-in docker client first on its PATH,
    or (param "real") this machine's client and the real engine."""
    if request.param == "real" and ENGINE is None:
        pytest.skip(NO_ENGINE)
    root = tmp_path_factory.mktemp("docker-host")
    (root / "bin").mkdir()
    (root / "py/caffe").mkdir(parents=True)
    (root / "py/caffe/__init__.py").write_text(HOST_PYCAFFE)
    host_path = os.pathsep.join(
        p
        for p in os.environ["PATH"].split(os.pathsep)
        if p and Path(p).resolve() != VENV_BIN.resolve()
    )
    docker = root / "bin/docker"
    docker.write_text(
        STAND_IN_DOCKER.format(python=sys.executable, image_path=f"{VENV_BIN}:/usr/bin:/bin")
    )
    docker.chmod(0o755)
    env = dict(
        os.environ,
        CAFFESIAM_CAFFE_HOME=str(proto_only_prefix),
        PATH=f"{root / 'bin'}:{host_path}" if request.param == "stand-in" else host_path,
        PYTHONPATH=os.pathsep.join(filter(None, [str(root / "py"), os.environ.get("PYTHONPATH")])),
        HOST_CAFFE_MARK=str(root / "host-caffe-used"),
        STAND_IN_RECORD=str(root / "docker-calls.jsonl"),
    )
    env.pop("OPENBLAS_NUM_THREADS", None)
    if request.param == "real" and ENGINE:
        env["DOCKER_HOST"] = ENGINE
    assert shutil.which("caffe", path=env["PATH"]) is None
    return env, root


def test_proto_only_install_matches_a_build(proto_only_prefix):
    """caffe_pb2 and the layer list without a build equal those of the real build's setup."""
    build = caffe_home()
    assert (proto_only_prefix / "proto/caffe_pb2.py").read_text() == (
        build / "proto/caffe_pb2.py"
    ).read_text()
    assert sorted((proto_only_prefix / "layer_types.txt").read_text().split()) == sorted(
        (build / "layer_types.txt").read_text().split()
    )
    assert not (proto_only_prefix / "bin").exists() and (proto_only_prefix / ".proto-only").exists()


@pytest.mark.slow
def test_doctor_on_a_docker_only_host_says_what_works(docker_host):
    env, root = docker_host
    out = run_tool("doctor", env=env)
    assert out.returncode == 0, out.stdout + out.stderr
    assert any(line.startswith("ok") and "caffe_pb2" in line for line in out.stdout.splitlines())
    assert "proto-only" in out.stdout
    assert (
        "works here: gen-net, gen-solver, draw, build-db, inspect-db, plot-log, "
        "train --docker IMAGE" in out.stdout
    )
    assert "needs a Caffe build (make setup): train without --docker, evaluate, embed" in out.stdout
    assert not (root / "host-caffe-used").exists()


@pytest.fixture
def docker_workdir(docker_host, fashion_pair_dbs, tmp_path, monkeypatch):
    """A training laid out on the Docker-only host by its own gen-net and gen-solver: two
    solvers, `first` (snap/lenet) and `tuned` (snap2/lenet); `host(...)` runs caffesiam there.
    The folder's name holds ':' and ',', which `docker run -v` would split at."""
    env, root = docker_host
    work = tmp_path / "runs:1,b"
    for split, db in fashion_pair_dbs.items():
        shutil.copytree(db, work / f"{split}_leveldb")
    monkeypatch.chdir(work)

    def host(*args):
        return run_tool(*args, env=env, cwd=work)

    net = host(
        "gen-net",
        REPO / "templates/lenet.yaml",
        "--train-source",
        "train_leveldb",
        "--test-source",
        "test_leveldb",
        "--batch-size",
        16,
        "--test-batch-size",
        20,
    )
    assert net.returncode == 0, net.stderr
    Path("net.prototxt").write_text(net.stdout)
    for name, prefix in (("first", "snap/lenet"), ("tuned", "snap2/lenet")):
        solver = host(
            "gen-solver",
            "net.prototxt",
            "--max-iter",
            40,
            "--test-interval",
            20,
            "--test-iter",
            5,
            "--display",
            10,
            "--snapshot",
            40,
            "--snapshot-prefix",
            prefix,
        )
        assert solver.returncode == 0, solver.stderr
        Path(f"{name}.prototxt").write_text(solver.stdout)
    return host, env, root, work


@pytest.mark.docker
@pytest.mark.caffe
@pytest.mark.slow
@pytest.mark.parametrize("docker_host", ["real"], indirect=True)
def test_train_in_docker_needs_no_caffe_on_the_host(docker_workdir):
    host, env, root, work = docker_workdir
    # Control: without --docker this host cannot train (so a pass below used the image's Caffe).
    local = host("train", "first.prototxt")
    assert (
        local.returncode == 1
        and "no Caffe build" in local.stderr
        and len(local.stderr.splitlines()) == 1
    )

    first = host("train", "first.prototxt", "--docker", "caffesiam:cpu")  # --blas-threads auto
    assert first.returncode == 0, first.stderr[-2000:]
    tuned = host(
        "train",
        "tuned.prototxt",
        "--docker",
        "caffesiam:cpu",
        "--blas-threads",
        "1",
        "--weights",
        "snap/lenet_iter_40.caffemodel",
    )
    assert tuned.returncode == 0, tuned.stderr[-2000:]

    assert not (root / "host-caffe-used").exists()
    cores = os.cpu_count()
    # The BLAS timing ran `caffe time` in the image, once per thread count (the host has no caffe).
    record = json.loads((work / "snap/lenet_run" / BLAS_THREADS_JSON).read_text())
    assert set(record["forward_backward_ms"]) == ({"1", str(cores)} if cores > 1 else set())
    usage = json.loads((work / "snap/lenet_run/usage.json").read_text())
    assert usage["process"] == "caffe in the container" and usage["cpu_seconds"] > 0
    assert (
        f"{usage['cpu_seconds']:.1f} s CPU (user+sys of the caffe process, in the container)"
        in first.stdout
    )
    for run in ("snap/lenet_run", "snap2/lenet_run"):
        assert "Optimization Done" in (work / run / CAFFE_LOG).read_text()
    # The weights check set the net up with the image's pycaffe, then Caffe fine-tuned from them.
    assert (
        "Finetuning from snap/lenet_iter_40.caffemodel"
        in (work / "snap2/lenet_run" / CAFFE_LOG).read_text()
    )
    assert (work / "snap2/lenet_iter_40.caffemodel").exists()


@pytest.mark.caffe
@pytest.mark.slow
def test_a_gpu_run_hands_docker_the_gpus(docker_workdir):
    """STAND-IN: this engine has no NVIDIA runtime. Every docker run of a `--gpu 0` training
    carries --gpus "device=0", and Caffe gets -gpu 0 (the stand-in's image is a CPU build, so
    Caffe itself then refuses: the argv reached it)."""
    host, env, root, _ = docker_workdir
    out = host("train", "first.prototxt", "--docker", "caffesiam:gpu", "--gpu", "0")
    assert out.returncode == 1 and "CPU-only" in out.stderr, out.stderr
    calls = [json.loads(line) for line in (root / "docker-calls.jsonl").read_text().splitlines()]
    inner = [call["inner"][4:] for call in calls]
    assert inner[0] == ["caffe", "--version"]  # the check before the run writes anything
    assert inner[1][:3] == ["caffe", "train", "-solver"] and inner[1][-2:] == ["-gpu", "0"]
    assert len(calls) == 2 and all(call["gpus"] == '"device=0"' for call in calls)
    assert not (root / "host-caffe-used").exists()


@pytest.mark.parametrize("image", ["", "-v/:/host", "caffe siam", "/abs"])
def test_an_image_name_docker_would_misread_is_bad_input(image, tmp_path):
    out = run_tool("train", "solver.prototxt", f"--docker={image}", cwd=tmp_path)
    assert out.returncode == 2 and len(out.stderr.splitlines()) == 1, out.stderr
    assert "is not an image name" in out.stderr and not list(tmp_path.iterdir())


def test_a_gpu_run_is_not_timed_so_no_caffe_is_started_for_it(tmp_path):
    """GPU runs compute with cuBLAS, not OpenBLAS: no `caffe time`, in an image or on the host."""
    from caffesiam.train.blas_threads import threads_for_run
    from caffesiam.train.plan import TrainPlan

    class NoLaunch:
        @property
        def caffe(self):
            raise AssertionError("a GPU run started Caffe to time OpenBLAS")

        def wrap(self, plan, argv, env):
            raise AssertionError("a GPU run started Caffe to time OpenBLAS")

    plan = TrainPlan(
        solver_path=tmp_path / "s",
        solver=None,
        cwd=tmp_path,
        net_path=tmp_path / "n",
        sources=[],
        run_dir=tmp_path / "r",
        snapshot_prefix=tmp_path / "p",
        gpu="0",
    )
    assert threads_for_run(plan, "auto", NoLaunch()) == (None, "GPU run", {})
