#!/usr/bin/env bash
# make setup: Caffe (system packages, build, venv links), caffesiam itself, editable, then the
# Slurm that the test suite runs a one-node cluster of.
# Arguments go to install_caffe.sh (the GPU image and gpu-build-check pass --gpu; make
# setup-docker passes --proto-only: caffe_pb2 without a Caffe build); with any, no Slurm.
# Idempotent: a cached Caffe build and an up-to-date venv are reused. Tool output goes to the
# step logs (shown when a step fails), so what is printed is what a person needs to read.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
prog=setup
logs=${CAFFESIAM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/caffesiam}/logs
. scripts/steps.sh
venv=${VENV:-.venv}

bash scripts/install_caffe.sh --venv "$venv" "$@"

# plyvel from source, against the same system LevelDB that Caffe reads (and ~4x faster writes).
install_caffesiam() { retry "$venv/bin/python" -m pip install --no-binary plyvel -e ".[test,demo]"; }

stamp="$venv/.caffesiam-setup"
want=$(sha256sum pyproject.toml | cut -c1-16)
if [ "$(cat "$stamp" 2>/dev/null)" = "$want" ] && "$venv/bin/caffesiam" --version >/dev/null 2>&1; then
  say "caffesiam already installed in $venv"
else
  step "install caffesiam (editable) with its test and demo extras into $venv" install_caffesiam
  echo "$want" >"$stamp"
fi

# The real-Slurm sweep test starts a one-node cluster (scripts/local_slurm.py) of Debian's
# slurm-wlm and munge. Tests install nothing, so a plain setup does, once; without them that
# test skips and says why.
if [ $# = 0 ]; then
  if python3 scripts/local_slurm.py --check; then
    say "Slurm already installed"
  else
    soft_step "install Slurm (slurm-wlm, munge) for the sweep tests" retry python3 scripts/local_slurm.py --install
    [ "$status" = 0 ] || echo "setup: WARNING: no Slurm, so the real-Slurm sweep test will skip" >&2
  fi
fi
