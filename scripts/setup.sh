#!/usr/bin/env bash
# make setup: Caffe (system packages, build, venv links) then caffesiam itself, editable.
# Idempotent: a cached Caffe build and an up-to-date venv are reused.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
venv=${VENV:-.venv}

bash scripts/install_caffe.sh --venv "$venv"

stamp="$venv/.caffesiam-setup"
want=$(cat setup.py | sha256sum | cut -c1-16)
if [ "$(cat "$stamp" 2>/dev/null)" = "$want" ] && "$venv/bin/caffesiam" --version >/dev/null 2>&1; then
  echo "==> caffesiam already installed in $venv"
else
  echo "==> installing caffesiam (editable) with test and demo extras into $venv"
  # plyvel from source, against the same system LevelDB that Caffe reads (and ~4x faster writes).
  "$venv/bin/python" -m pip install -q --no-binary plyvel -e ".[test,demo]"
  echo "$want" >"$stamp"
fi
