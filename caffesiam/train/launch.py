"""Where a run's Caffe processes start: on this host, with its Caffe build, or in a Docker image.

`train --docker IMAGE` must need no Caffe on the host, so everything that runs Caffe or pycaffe
for a run (the BLAS timing, the weights check, the training) goes through the run's launch.
"""

import os
import sys

from caffesiam.caffe import locate, runner
from caffesiam.caffe.glog import GLOG_VARIABLES
from caffesiam.errors import DockerFailed
from caffesiam.train.blas_threads import THREAD_VARIABLES
from caffesiam.train.plan import TrainPlan

# The patched build's own settings (docs/speed.md), which a container gets as the host has them.
SPEED_PATCH_VARIABLES = ("CAFFE_CONV_DNNL", "CAFFE_CONV_BATCH_BYTES", "CAFFE_CPU_MIN_THREADED_WORK")
_CAFFE_ENV = (*GLOG_VARIABLES, *THREAD_VARIABLES, *SPEED_PATCH_VARIABLES)
# `docker run`'s own exit statuses (Caffe's are 0, 1, or 128+N for signal N).
_DOCKER_STATUS = {
    125: "docker run failed",
    126: "the image cannot run the command",
    127: "the image has no such command",
}
# What docker says when it cannot run an image -> what fixes it.
_DOCKER_FIXES = (
    (
        "cannot connect to the docker daemon",
        "start the Docker engine (make docker-engine starts one of this project's own; "
        "then export DOCKER_HOST as it says)",
    ),
    (
        "permission denied while trying to connect",
        "use the engine as a member of its socket's group (usermod -aG docker USER, then log "
        "in again) or as root",
    ),
    (
        "could not select device driver",
        "install the NVIDIA Container Toolkit (nvidia-container-toolkit) on the Docker host "
        "and restart dockerd",
    ),
    (
        "unable to find image",
        "build it (make docker-cpu or make docker-gpu) or docker pull it from its registry",
    ),
)


def docker_failure(image: str, status: int, lines: list[str]) -> str | None:
    """docker's own failure to run `image` (no daemon, no permission, no such image, no GPU
    runtime, no such command in it) in one line with its fix, or None when `status` is not one
    of docker run's own."""
    if status not in _DOCKER_STATUS:
        return None
    said = [line.strip() for line in lines if line.strip()]
    line = next(
        (text for text in said if text.startswith("docker:")), said[0] if said else "no output"
    )
    text = " ".join(said).lower()
    fix = next((fix for words, fix in _DOCKER_FIXES if words in text), None)
    # Some clients exit 126 when the socket refuses them: docker's words say what happened.
    what = _DOCKER_STATUS[125 if fix else status]
    return f"{what} (status {status}, image {image}): {line}" + (f"; {fix}" if fix else "")


def launch_for(image: str | None):
    """DockerLaunch in `image` when one is given (ToolMissing without a docker client: a tool
    failure), else HostLaunch. In an image nothing of a host Caffe build is used: the host may
    have none."""
    if image is None:
        return HostLaunch()
    return DockerLaunch(runner.require("docker", "docker.io"), image)


class HostLaunch:
    """This machine's Caffe build and the Python running caffesiam (which imports its pycaffe)."""

    python = sys.executable
    timed_process = "the caffe process"  # whose CPU time usage.json holds
    in_container = False

    def __init__(self):
        self.caffe = locate.caffe_binary()  # CaffeNotFound before the run writes anything
        self.cpu_only_build = locate.is_cpu_only_build()

    def wrap(self, plan: TrainPlan, argv: list[str], env: dict) -> list[str]:
        return list(argv)

    def check(self, plan: TrainPlan):
        pass  # the build was found when this launch was made

    def failure(self, status: int, lines: list[str]) -> str | None:
        return None  # any failure is Caffe's own

    def raise_failure(self, status: int, lines: list[str]):
        pass  # nothing stands between this host and its Caffe


class DockerLaunch:
    """Caffe and caffesiam's Python inside `image`, run as this user, with every path the run
    reads or writes mounted at the same place and Caffe's own settings from `env` passed in."""

    caffe = "caffe"
    python = "python"
    timed_process = "the caffe process, in the container"  # as the container's entry reports it
    in_container = True
    cpu_only_build = False  # the image's build is not known here; Caffe itself says if it is

    def __init__(self, docker: str, image: str):
        self.docker, self.image = docker, image

    def wrap(self, plan: TrainPlan, argv: list[str], env: dict) -> list[str]:
        mounts = [
            plan.cwd,
            plan.run_dir,
            plan.net_path,
            plan.snapshot_prefix.parent,
            *plan.sources,
            *(p for p in (plan.weights, plan.resume, plan.resumed_weights) if p),
        ]
        passed = {k: env[k] for k in _CAFFE_ENV if k in env}
        return runner.docker_argv(
            self.docker,
            self.image,
            argv,
            mounts,
            plan.cwd,
            passed,
            plan.gpu,
            user=f"{os.getuid()}:{os.getgid()}",
        )

    def check(self, plan: TrainPlan):
        """DockerFailed unless docker runs the image's caffe the way the run will (its mounts, user
        and GPUs): before the run writes anything."""
        done = runner.capture(self.wrap(plan, [self.caffe, "--version"], {}), timeout=300)
        if done.returncode != 0:
            lines = runner.without_cpu_report(done.stdout.splitlines())
            self.raise_failure(done.returncode, lines)
            raise DockerFailed(
                f"{self.image}: `caffe --version` exited with status {done.returncode}: "
                f"{' '.join(line.strip() for line in lines if line.strip())[-300:]}"
            )

    def failure(self, status: int, lines: list[str]) -> str | None:
        """docker's own failure (no daemon, no such image, no caffe in it) in words, or None."""
        return docker_failure(self.image, status, lines)

    def raise_failure(self, status: int, lines: list[str]):
        """DockerFailed when a child that this launch ran ended in docker's own failure: a tool
        failure (exit 1) in docker's words, never put down to the net or the weights."""
        said = self.failure(status, lines)
        if said:
            raise DockerFailed(said)
