"""Where a run's Caffe starts: the exact argv on this host and in a Docker image."""

import os
import shutil

import pytest

from caffesiam.caffe import runner
from caffesiam.errors import ToolMissing
from caffesiam.train import launch
from caffesiam.train.plan import TrainPlan


@pytest.fixture
def no_caffe_lookup(monkeypatch):
    monkeypatch.setattr(launch.locate, "caffe_binary", lambda: "/opt/caffe/bin/caffe")
    monkeypatch.setattr(launch.locate, "is_cpu_only_build", lambda: True)


def _plan(tmp_path, gpu=None, **paths):
    """A plan whose databases and snapshots lie outside the working directory `tmp_path/work`."""
    for folder in ("work/nets", "work/run", "data/train_lmdb", "data/test_lmdb", "snaps", "models"):
        (tmp_path / folder).mkdir(parents=True, exist_ok=True)
    return TrainPlan(
        solver_path=tmp_path / "work" / "solver.prototxt",
        solver=None,
        cwd=tmp_path / "work",
        net_path=tmp_path / "work" / "nets" / "net.prototxt",
        sources=[tmp_path / "data" / "train_lmdb", tmp_path / "data" / "test_lmdb"],
        run_dir=tmp_path / "work" / "run",
        snapshot_prefix=tmp_path / "snaps" / "net",
        gpu=gpu,
        **paths,
    )


def test_a_host_run_is_the_argv_itself(tmp_path, no_caffe_lookup):
    host = launch.HostLaunch()
    argv = ["/opt/caffe/bin/caffe", "train", "-solver", "s"]
    wrapped = host.wrap(_plan(tmp_path), argv, {"GLOG_minloglevel": "0"})
    assert wrapped == argv and wrapped is not argv
    assert (host.caffe, host.cpu_only_build) == ("/opt/caffe/bin/caffe", True)
    assert host.failure(125, ["docker: no"]) is None


def test_a_docker_run_mounts_what_the_run_touches_and_passes_caffes_settings(tmp_path):
    plan = _plan(tmp_path, gpu="1", weights=tmp_path / "models" / "w.caffemodel")
    env = {
        "GLOG_minloglevel": "0",
        "GLOG_logtostderr": "1",
        "OMP_NUM_THREADS": "2",
        "OPENBLAS_NUM_THREADS": "2",
        "HOME": "/root",  # the host's own: not passed
        "PATH": "/usr/bin",
    }
    argv = launch.DockerLaunch("/usr/bin/docker", "caffesiam:gpu").wrap(
        plan, ["caffe", "train", "-solver", "run/solver.prototxt"], env
    )
    assert argv == [
        *("/usr/bin/docker", "run", "--rm", "-i", "--init", "--network", "none"),
        *(
            "--label",
            f"{runner.CONTAINER_LABEL}={tmp_path}/work",
            "-e",
            "TINI_KILL_PROCESS_GROUP=1",
        ),
        "--user",
        f"{os.getuid()}:{os.getgid()}",
        "--gpus",
        '"device=1"',
        *(
            "--mount",
            f'type=bind,"source={tmp_path}/data/test_lmdb","target={tmp_path}/data/test_lmdb"',
        ),
        *(
            "--mount",
            f'type=bind,"source={tmp_path}/data/train_lmdb","target={tmp_path}/data/train_lmdb"',
        ),
        *(
            "--mount",
            f'type=bind,"source={tmp_path}/models","target={tmp_path}/models"',
        ),  # a file's folder
        *("--mount", f'type=bind,"source={tmp_path}/snaps","target={tmp_path}/snaps"'),
        *(
            "--mount",
            f'type=bind,"source={tmp_path}/work","target={tmp_path}/work"',
        ),  # the run directory and nets are in it
        "-w",
        f"{tmp_path}/work",
        "-e",
        "GLOG_logtostderr=1",
        "-e",
        "GLOG_minloglevel=0",
        "-e",
        "OMP_NUM_THREADS=2",
        "-e",
        "OPENBLAS_NUM_THREADS=2",
        "caffesiam:gpu",
        *("sh", "-c", runner.CONTAINER_ENTRY, "caffesiam-entry"),
        "caffe",
        "train",
        "-solver",
        "run/solver.prototxt",
    ]


@pytest.mark.parametrize(
    "status, lines, expected",
    [
        (
            125,
            ["Unable to find image 'x:y' locally\n", "docker: Error response from daemon.\n"],
            "docker run failed (status 125, image x:y): docker: Error response from daemon.; "
            "build it (make docker-cpu or make docker-gpu) or docker pull it from its registry",
        ),
        (126, [], "the image cannot run the command (status 126, image x:y): no output"),
        (
            127,
            ["  exec: caffe: not found \n"],
            "the image has no such command (status 127, image x:y): exec: caffe: not found",
        ),
        (1, ["docker: whatever"], None),  # Caffe's own status
        (134, [], None),
    ],
)
def test_dockers_own_failures_are_named(status, lines, expected):
    assert launch.DockerLaunch("docker", "x:y").failure(status, lines) == expected


def test_the_launch_for_an_image_needs_a_docker_client(no_caffe_lookup, monkeypatch):
    assert isinstance(launch.launch_for(None), launch.HostLaunch)
    monkeypatch.setattr(shutil, "which", lambda name: f"/bin/{name}")
    docker = launch.launch_for("caffesiam:cpu")
    assert (docker.docker, docker.image, docker.cpu_only_build) == (
        "/bin/docker",
        "caffesiam:cpu",
        False,
    )
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(ToolMissing, match=r"install it \(Debian: apt-get install docker.io\)"):
        launch.launch_for("caffesiam:cpu")
