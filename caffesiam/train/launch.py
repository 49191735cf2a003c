"""Where a run's Caffe processes start: on this host, with its Caffe build, or in a Docker image.

`train --docker IMAGE` must need no Caffe on the host, so everything that runs Caffe or pycaffe
for a run (the BLAS timing, the weights check, the training) goes through the run's launch.
"""

import os
import shutil
import sys

from caffesiam.caffe import locate, runner
from caffesiam.caffe.glog import GLOG_VARIABLES
from caffesiam.errors import BadInput
from caffesiam.train.blas_threads import THREAD_VARIABLES
from caffesiam.train.plan import TrainPlan

_CAFFE_ENV = (*GLOG_VARIABLES, *THREAD_VARIABLES)
# `docker run`'s own exit statuses (Caffe's are 0, 1, or 128+N for signal N).
_DOCKER_STATUS = {
    125: "docker run failed",
    126: "the image cannot run the command",
    127: "the image has no such command",
}


def launch_for(image: str | None, which=shutil.which):
    """DockerLaunch in `image` when one is given (BadInput without a docker client), else
    HostLaunch. In an image nothing of a host Caffe build is used: the host may have none."""
    if image is None:
        return HostLaunch()
    docker = which("docker")
    if docker is None:
        raise BadInput("--docker was given but no docker client is installed")
    return DockerLaunch(docker, image)


class HostLaunch:
    """This machine's Caffe build and the Python running caffesiam (which imports its pycaffe)."""

    python = sys.executable
    timed_process = "the caffe process"  # whose CPU time usage.json holds

    def __init__(self):
        self.caffe = locate.caffe_binary()  # CaffeNotFound before the run writes anything
        self.cpu_only_build = locate.is_cpu_only_build()

    def wrap(self, plan: TrainPlan, argv: list[str], env: dict) -> list[str]:
        return list(argv)

    def failure(self, status: int, lines: list[str]) -> str | None:
        return None  # any failure is Caffe's own


class DockerLaunch:
    """Caffe and caffesiam's Python inside `image`, run as this user, with every path the run
    reads or writes mounted at the same place and Caffe's own settings from `env` passed in."""

    caffe = "caffe"
    python = "python"
    timed_process = "the docker client; Caffe's own, in the container, is not counted"
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

    def failure(self, status: int, lines: list[str]) -> str | None:
        """docker's own failure (no daemon, no such image, no caffe in it) in words, or None."""
        what = _DOCKER_STATUS.get(status)
        if what is None:
            return None
        said = [line.strip() for line in lines if line.strip()]
        line = next(
            (text for text in said if text.startswith("docker:")), said[0] if said else "no output"
        )
        return f"{what} (status {status}, image {self.image}): {line}"
