#!/usr/bin/env bash
# The demo's schedule sweep, one round at a time: builds the demo's pair databases once (as
# `make demo` does, in LMDB, which concurrent points may share; and with build-db seeds 1 and 2), runs
# docs/sweep_demo/roundN.yaml two points at a time, one BLAS thread each, under nice, and writes
# results.csv, curves.png and accuracy.png into docs/sweep_demo/roundN/. Run again, it resumes
# what has not finished.
#
#   bench/sweep_demo.sh ROUND [WORKDIR]      (ROUND 1, 2 or 3; default WORKDIR /var/tmp/caffesiam_sweep_demo)
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
round=${1:-}
[ -f "$repo/docs/sweep_demo/round$round.yaml" ] || { echo "sweep_demo: give a round: 1, 2 or 3" >&2; exit 2; }
work=$(realpath -m "${2:-/var/tmp/caffesiam_sweep_demo}")
cs=$repo/.venv/bin/caffesiam
export DEMO_SWEEP_DATA=$work/data

# The demo's databases (seed 0), and for round 3 those of seeds 1 and 2.
for seed in 0 1 2; do
  out=$DEMO_SWEEP_DATA
  [ "$seed" = 0 ] || out=$DEMO_SWEEP_DATA/seed$seed
  [ -e "$out/digits_siamese_test_lmdb" ] ||
    nice -n 10 "$cs" build-db digits --backend lmdb --out "$out" --pairs 200000 \
      --test-pairs 10000 --augment --seed "$seed"
done

sweep=$work/round$round
if [ -e "$sweep/sweep.json" ]; then
  nice -n 10 "$cs" sweep resume "$sweep"
else
  nice -n 10 "$cs" sweep "$repo/docs/sweep_demo/round$round.yaml" --out "$sweep" --jobs 2
fi
"$cs" sweep report "$sweep" --out "$repo/docs/sweep_demo/round$round"
