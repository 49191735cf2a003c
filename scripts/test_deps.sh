#!/usr/bin/env bash
# What make test needs beyond make setup (tests install nothing themselves):
# - a real Slurm (Debian's slurm-wlm and munge) for the sweep tests' one-node cluster
#   (scripts/local_slurm.py); without it that test skips and says why;
# - OpenCV 5, the second runtime every exported ONNX tower is checked on. It needs numpy 2,
#   which pycaffe cannot load, so it lives in a venv of its own.
# - pytorch-metric-learning (the metric-test extra), the reference for the retrieval metrics, on
#   a CPU-only torch taken only from a wheel on this machine's disk (pip's find-links): the
#   package index's torch is the CUDA build, several GB. Without one that test skips.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
prog=test-deps
logs=${CAFFESIAM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/caffesiam}/logs
. scripts/steps.sh

if python3 scripts/local_slurm.py --check; then
  say "Slurm already installed"
else
  soft_step "install Slurm (slurm-wlm, munge) for the sweep tests" retry python3 scripts/local_slurm.py --install
  [ "$status" = 0 ] || echo "test-deps: WARNING: no Slurm, so the real-Slurm sweep test will skip" >&2
fi

runtimes=.venv-runtimes
install_runtimes() {
  [ -x "$runtimes/bin/python" ] || python3 -m venv "$runtimes"
  retry "$runtimes/bin/python" -m pip install -q "opencv-python-headless>=5,<6" "numpy>=2"
}
if "$runtimes/bin/python" -c 'import cv2, sys; sys.exit(not cv2.__version__.startswith("5."))' 2>/dev/null; then
  say "OpenCV 5 already in $runtimes"
else
  step "OpenCV 5 and numpy 2 in $runtimes, for the ONNX tests" install_runtimes
fi

venv=${VENV:-.venv}
install_metric_test() {
  local wheels
  wheels=$(mktemp -d)
  "$venv/bin/python" -m pip download -q --no-index --no-deps -d "$wheels" "torch==2.13.0"
  retry "$venv/bin/python" -m pip install -q "$wheels"/torch-*.whl
  retry "$venv/bin/python" -m pip install -q --no-deps "pytorch-metric-learning>=2.9" "tqdm>=4"
  rm -rf "$wheels"
}
if "$venv/bin/python" -c 'import torch, pytorch_metric_learning' 2>/dev/null; then
  say "torch and pytorch-metric-learning already in $venv"
else
  soft_step "a CPU-only torch and pytorch-metric-learning, for the retrieval metrics' test" install_metric_test
  [ "$status" = 0 ] || echo "test-deps: WARNING: no CPU-only torch wheel on this machine, so the pytorch-metric-learning test will skip" >&2
fi
