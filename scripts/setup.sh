#!/usr/bin/env bash
# make setup: Caffe (system packages, build, venv links) and caffesiam itself, editable, which
# installs alongside Caffe's compile. Arguments go to install_caffe.sh (the GPU image and
# gpu-build-check pass --gpu; make setup-docker passes --proto-only: caffe_pb2 without a Caffe build).
# CAFFESIAM_EXTRAS: caffesiam's extras to install (default "test,demo"; the images take none).
# Idempotent: a cached Caffe build and an up-to-date venv are reused. Tool output goes to the
# step logs (shown when a step fails), so what is printed is what a person needs to read.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
setup_venv=${VENV:-.venv}
# shellcheck source=install_caffe.sh
. scripts/install_caffe.sh
prog=setup

# plyvel from source, against the same system LevelDB that Caffe reads (and ~4x faster writes).
# The numpy constraint keeps the one Caffe's build was configured against.
extras=${CAFFESIAM_EXTRAS-test,demo}
install_caffesiam() {
  local constraint=()
  if "$setup_venv/bin/python" -c 'import numpy' 2>/dev/null; then constraint=(-c "$(numpy_constraint)"); fi
  retry "$setup_venv/bin/python" -m pip install "${constraint[@]}" --no-binary plyvel -e ".${extras:+[$extras]}"
}

caffesiam_step() {
  local stamp="$setup_venv/.caffesiam-setup" want
  want=$(sha256sum pyproject.toml | cut -c1-16)
  [ "$extras" = test,demo ] || want="$want [$extras]"
  if [ "$(cat "$stamp" 2>/dev/null)" = "$want" ] && "$setup_venv/bin/caffesiam" --version >/dev/null 2>&1; then
    say "caffesiam already installed in $setup_venv"
  else
    step "install caffesiam (editable)${extras:+ with the extras $extras} into $setup_venv (alongside the build)" install_caffesiam
    echo "$want" >"$stamp"
  fi
}
alongside_build+=(caffesiam_step)

main --venv "$setup_venv" "$@"
