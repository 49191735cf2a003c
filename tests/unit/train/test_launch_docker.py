"""DockerLaunch's words for docker's own failures: docker's line, then the fix."""

import pytest

from caffesiam.errors import DockerFailed
from caffesiam.train.launch import DockerLaunch, HostLaunch, docker_failure


def test_a_status_of_caffe_is_not_dockers():
    assert docker_failure("caffesiam:cpu", 1, ["docker: something"]) is None
    assert docker_failure("caffesiam:cpu", 134, []) is None


def test_no_daemon_names_the_socket_and_how_to_start_one():
    said = docker_failure(
        "caffesiam:cpu",
        125,
        [
            "docker: Cannot connect to the Docker daemon at unix:///x.sock. "
            "Is the docker daemon running?.\n",
            "See 'docker run --help'.\n",
        ],
    )
    assert said.startswith(
        "docker run failed (status 125, image caffesiam:cpu): docker: Cannot connect to the "
        "Docker daemon at unix:///x.sock."
    )
    assert said.endswith(
        "make docker-engine starts one of this project's own; then export DOCKER_HOST as it says)"
    )


def test_a_missing_image_says_how_to_build_it():
    said = docker_failure(
        "nosuch:1",
        125,
        [
            "Unable to find image 'nosuch:1' locally\n",
            "docker: Error response from daemon: pull access denied for nosuch.\n",
        ],
    )
    assert "docker: Error response from daemon: pull access denied for nosuch." in said
    assert said.endswith(
        "; build it (make docker-cpu or make docker-gpu) or docker pull it from its registry"
    )


def test_no_gpu_runtime_names_the_nvidia_container_toolkit():
    said = docker_failure(
        "caffesiam:gpu",
        125,
        [
            'docker: Error response from daemon: could not select device driver "" with '
            "capabilities: [[gpu]].\n"
        ],
    )
    assert "install the NVIDIA Container Toolkit" in said and "restart dockerd" in said


def test_an_unknown_failure_keeps_dockers_words_without_a_fix():
    said = docker_failure("img", 127, ["caffesiam-entry: 1: exec: caffe: not found\n"])
    assert said == (
        "the image has no such command (status 127, image img): "
        "caffesiam-entry: 1: exec: caffe: not found"
    )


def test_a_socket_without_permission_is_dockers_failure_whatever_the_status():
    said = docker_failure(
        "caffesiam:cpu",
        126,  # the status docker 28's client gives it
        [
            "docker: permission denied while trying to connect to the Docker daemon socket at "
            "unix:///x.sock: Head ...: connect: permission denied\n",
            "Run 'docker run --help' for more information\n",
        ],
    )
    assert said.startswith(
        "docker run failed (status 126, image caffesiam:cpu): docker: permission"
    )
    assert "usermod -aG docker USER" in said


def test_raise_failure_raises_for_docker_and_leaves_caffe_to_its_caller():
    launch = DockerLaunch("docker", "caffesiam:cpu")
    launch.raise_failure(1, ["F1202 net.cpp:9] Check failed: x"])  # Caffe's failure: no raise
    with pytest.raises(DockerFailed) as caught:
        launch.raise_failure(127, ["caffesiam-entry: 4: python: not found"])
    assert caught.value.exit_code == 1
    assert str(caught.value).startswith("the image has no such command (status 127")
    HostLaunch.raise_failure(None, 125, ["docker: anything"])
