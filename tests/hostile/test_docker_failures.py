"""Class: docker failing is docker's failure, not the input's. `train --docker --weights` sets the
net up in the image to check the weights; when docker cannot run that child (the engine went
away after the first check, the image lacks the command), the one line is docker's own words
and the fix, exit 1, and nothing is written. A stand-in docker client plays the engine."""

import os
import shutil
import socket

import pytest
from conftest import REPO

from hostile.helpers import changes, refused, run, snapshot

pytestmark = [pytest.mark.caffe, pytest.mark.slow]

IMAGE = "caffesiam:cpu"
GONE = (
    "docker: Cannot connect to the Docker daemon at unix:///run/gone.sock. "
    "Is the docker daemon running?"
)
# The stand-in answers the launch check (`caffe --version`) as a working image does, then fails
# every later run as the case says.
STAND_IN = """#!/bin/sh
case " $* " in *" caffe --version "*) echo "caffe version 1.0.0"; exit 0 ;; esac
{FAIL}
"""
FAILURES = {
    "engine gone": (
        f"echo '{GONE}' >&2; echo >&2; echo \"Run 'docker run --help' for more information\" >&2"
        "; exit 125",
        1,
        ["docker run failed (status 125, image caffesiam:cpu)", GONE, "make docker-engine"],
    ),
    "no python in the image": (
        "echo 'caffesiam-entry: 4: python: not found'; exit 127",
        1,
        ["the image has no such command (status 127", "python: not found"],
    ),
}


@pytest.fixture
def work(tmp_path, pair_db, model):
    """A lenet train net on the shared pair database, its solver, and weights that fit it."""
    net, solver = tmp_path / "net.prototxt", tmp_path / "solver.prototxt"
    sources = ["--train-source", pair_db, "--test-source", pair_db]
    assert run("gen-net", REPO / "templates/lenet.yaml", *sources, "-o", net).returncode == 0
    done = run("gen-solver", net, "--max-iter", 1, "-o", solver)
    assert done.returncode == 0, done.stderr
    return tmp_path, model[1]


def train(work, env):
    workdir, weights = work
    return run(
        "train",
        "solver.prototxt",
        "--docker",
        IMAGE,
        "--weights",
        weights,
        "--blas-threads",
        1,
        cwd=workdir,
        env=env,
    )


@pytest.mark.parametrize("case", FAILURES)
def test_docker_failing_in_the_weights_check_is_dockers_failure(case, work, tmp_path_factory):
    fail, code, words = FAILURES[case]
    bin_dir = tmp_path_factory.mktemp("bin")
    (bin_dir / "docker").write_text(STAND_IN.replace("{FAIL}", fail))
    (bin_dir / "docker").chmod(0o755)
    env = dict(os.environ, PATH=f"{bin_dir}:{os.environ['PATH']}")
    before = snapshot(work[0])
    refused(train(work, env), code, *words)
    assert changes(before, work[0]) == set()


@pytest.mark.skipif(
    shutil.which("docker") is None, reason="no docker client here: this case runs it"
)
def test_no_engine_behind_docker_host(work, tmp_path_factory):
    """The real client, DOCKER_HOST at a socket nobody listens on."""
    sock = tmp_path_factory.mktemp("engine") / "docker.sock"
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(str(sock))
    listener.close()
    env = dict(os.environ, DOCKER_HOST=f"unix://{sock}")
    before = snapshot(work[0])
    refused(
        train(work, env),
        1,
        "docker run failed (status 125",
        "Cannot connect to the Docker daemon",
        "make docker-engine",
    )
    assert changes(before, work[0]) == set()
