#!/usr/bin/env bash
# The Fashion-MNIST recipe sweep: builds the pair databases once (LMDB; 600,000 balanced train
# pairs, plain and --augment; the 10,000 held-out test pairs), runs bench/sweep_fashion.yaml two
# points at a time, one BLAS thread each, under nice, and writes results.csv, curves.png and
# accuracy.png into docs/sweep_fashion/. Run again, it resumes what has not finished.
#
#   bench/sweep_fashion.sh [WORKDIR]      (default /var/tmp/caffesiam_sweep_fashion)
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
work=$(realpath -m "${1:-/var/tmp/caffesiam_sweep_fashion}")
cs=$repo/.venv/bin/caffesiam
export FASHION_SWEEP_DATA=$work/data

[ -e "$FASHION_SWEEP_DATA/plain/fashion_mnist_siamese_test_lmdb" ] ||
  nice -n 10 "$cs" build-db fashion-mnist --backend lmdb --pairs 600000 --out "$FASHION_SWEEP_DATA/plain"
[ -e "$FASHION_SWEEP_DATA/augment/fashion_mnist_siamese_train_lmdb" ] ||
  nice -n 10 "$cs" build-db fashion-mnist --backend lmdb --pairs 600000 --augment --split train \
    --out "$FASHION_SWEEP_DATA/augment"

sweep=$work/fashion_mnist
if [ -e "$sweep/sweep.json" ]; then
  nice -n 10 "$cs" sweep resume "$sweep"
else
  nice -n 10 "$cs" sweep "$repo/bench/sweep_fashion.yaml" --out "$sweep" --jobs 2
fi
"$cs" sweep report "$sweep" --out "$repo/docs/sweep_fashion"
