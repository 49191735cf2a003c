#!/usr/bin/env bash
# make setup: Caffe (system packages, build, venv links) then caffesiam itself, editable.
# Arguments go to install_caffe.sh (the GPU image and gpu-build-check pass --gpu; make
# setup-docker passes --proto-only: caffe_pb2 without a Caffe build).
# CAFFESIAM_EXTRAS: caffesiam's extras to install (default "test,demo"; the images take none).
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
extras=${CAFFESIAM_EXTRAS-test,demo}
install_caffesiam() { retry "$venv/bin/python" -m pip install --no-binary plyvel -e ".${extras:+[$extras]}"; }

stamp="$venv/.caffesiam-setup"
want=$(sha256sum pyproject.toml | cut -c1-16)
[ "$extras" = test,demo ] || want="$want [$extras]"
if [ "$(cat "$stamp" 2>/dev/null)" = "$want" ] && "$venv/bin/caffesiam" --version >/dev/null 2>&1; then
  say "caffesiam already installed in $venv"
else
  step "install caffesiam (editable)${extras:+ with the extras $extras} into $venv" install_caffesiam
  echo "$want" >"$stamp"
fi
