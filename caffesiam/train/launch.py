"""Where a run's Caffe processes start: on this host, with its Caffe build, or in a Docker image.

`train --docker IMAGE` must need no Caffe on the host, so everything that runs Caffe or pycaffe
for a run (the BLAS timing, the weights check, the training) goes through the run's launch.
"""

import os
import sys
from typing import List

from caffesiam.caffe import locate, runner
from caffesiam.train.plan import TrainPlan

_CAFFE_ENV = ("GLOG_logtostderr", "GLOG_minloglevel", "OPENBLAS_NUM_THREADS")


class HostLaunch:
    """This machine's Caffe build and the Python running caffesiam (which imports its pycaffe)."""

    python = sys.executable

    def __init__(self):
        self.caffe = locate.caffe_binary()  # CaffeNotFound before the run writes anything

    def wrap(self, plan: TrainPlan, argv: List[str], env: dict) -> List[str]:
        return list(argv)


class DockerLaunch:
    """Caffe and caffesiam's Python inside `image`, run as this user, with every path the run
    reads or writes mounted at the same place and Caffe's own settings from `env` passed in."""

    caffe = "caffe"
    python = "python"

    def __init__(self, docker: str, image: str):
        self.docker, self.image = docker, image

    def wrap(self, plan: TrainPlan, argv: List[str], env: dict) -> List[str]:
        mounts = [plan.cwd, plan.run_dir, plan.net_path, plan.snapshot_prefix.parent, *plan.sources,
                  *(p for p in (plan.weights, plan.resume) if p)]
        passed = {k: env[k] for k in _CAFFE_ENV if k in env}
        return runner.docker_argv(self.docker, self.image, argv, mounts, plan.cwd, passed, plan.gpu,
                                  user=f"{os.getuid()}:{os.getgid()}")
