#!/usr/bin/env bash
# make test's system packages beyond make setup: a real Slurm (Debian's slurm-wlm and munge) for
# the sweep tests' one-node cluster (scripts/local_slurm.py). Tests install nothing; without
# Slurm that test skips and says why.
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
