#!/usr/bin/env bash
# make docker-check / docker-gpu-check: the images on a real Docker engine.
#
#   scripts/docker_check.sh [cpu|gpu]      (default cpu)
#
# 1. This project's own engine (scripts/docker_engine.sh start: installed and started when
#    needed, reused when running). An engine this started is stopped again at the end, whatever
#    happened; one that was running is left running.
# cpu (make docker-check): 2. the CPU image built from this checkout (make docker-cpu; the
#    engine's layer cache makes a rebuild quick); 3. the tests that train in it for real
#    (pytest -m docker: as a non-root user, against the host's own curve, Ctrl-C, kill -9, and
#    docker's own failures), then those of a host with no Caffe build, then sweeps whose points
#    train in the image (the local pool, and a local Slurm when there is one).
# gpu (make docker-gpu-check): 2. the GPU image, its SASS limited to $CAFFESIAM_CUDA_ARCH (default
#    here 90: one architecture compiles in a fraction of the full list's time); 3. the tests of
#    what it holds (pytest -m docker_gpu): sm_90 SASS in libcaffe (PyPI's cuobjdump on the copy
#    that docker cp takes out), the CUDA runtime, cuDNN and NCCL versions that `caffesiam doctor`
#    reads in the image, and no compiler, toolkit, headers or pip settings. No GPU kernel runs.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
kind=${1:-cpu}
case "$kind" in
  cpu|gpu) ;;
  *) echo "docker_check: use cpu or gpu" >&2; exit 2 ;;
esac
venv=${VENV:-.venv}
root=${CAFFESIAM_DOCKER_ROOT:-/var/lib/caffesiam-docker}

started=0
if ! bash scripts/docker_engine.sh status >/dev/null; then started=1; fi
stop_engine() { if [ "$started" = 1 ]; then bash scripts/docker_engine.sh stop; fi; }
trap stop_engine EXIT
bash scripts/docker_engine.sh start
export DOCKER_HOST=unix://$root/docker.sock

if [ "$kind" = cpu ]; then
  bash scripts/docker_image.sh cpu
  CAFFESIAM_DOCKER_CHECK=1 "$venv/bin/python" -m pytest -q -rP -m docker \
    tests/test_docker_engine.py tests/test_docker_host.py tests/test_docker_sweep.py
else
  export CAFFESIAM_CUDA_ARCH=${CAFFESIAM_CUDA_ARCH:-90}
  bash scripts/docker_image.sh gpu
  CAFFESIAM_CUOBJDUMP=$(bash scripts/cuobjdump.sh)
  export CAFFESIAM_CUOBJDUMP
  CAFFESIAM_DOCKER_GPU_CHECK=1 "$venv/bin/python" -m pytest -q -rP -m docker_gpu \
    tests/test_docker_gpu_image.py
fi
