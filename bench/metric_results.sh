#!/usr/bin/env bash
# The recipes behind docs/metric-learning.md's table of results, one command each: every one
# trains with the real caffe (one BLAS thread, seeded) and ends with `caffesiam evaluate`'s
# report: held-out and k-fold pair accuracy, retrieval and one-shot accuracy on the test images,
# and the CPU time it cost. Labels follow Caffe: sim=1 means the same class.
#
#   bench/metric_results.sh RECIPE WORKDIR
#   bench/metric_results.sh --list
#
# A setting of scripts/mining_recipe.sh or bench/fashion_recipe.sh that a recipe does not set
# passes through from the environment: HARD_RATIO=1 bench/metric_results.sh digits-mined-4 W.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
names=(digits-demo digits-mined digits-mined-4 digits-unmined digits-poly
  digits-unseen-baseline digits-unseen-mined
  fashion-shipped fashion-16k fashion-mined
  fashion-unseen-baseline fashion-unseen-2k fashion-unseen-contrastive64 fashion-unseen-augment
  fashion-unseen-wide fashion-unseen-mined)
digits=(PAIRS=200000 TEST_PAIRS=10000 AUGMENT=1)  # make demo's pairs
fashion=(DATASET=fashion-mnist "SPEC=$repo/templates/fashion_mnist.yaml" PAIRS=600000 TEST_PAIRS=10000
  "SOLVER_ARGS=--base-lr 0.02 --lr-policy poly --power 1")  # the shipped recipe's pairs and solver
unseen_digits=(TRAIN_CLASSES=0-4 TEST_CLASSES=5-9)
unseen_fashion=(TRAIN_CLASSES=0-5 TEST_CLASSES=6-9)

# recipe NAME: sets what (a line), settings (the environment) and script (under the checkout)
recipe() {
  script=scripts/mining_recipe.sh
  case $1 in
    digits-demo)
      what="make demo's recipe until 2026-12-02: 15,000 iterations of inv 0.01 on augmented pairs of all ten digits"
      settings=("${digits[@]}" ROUNDS=0 ITERS=15000) ;;
    digits-mined)
      what="the demo's tower and pairs: 9,000 iterations, then 2 rounds of 9,000 on mined pairs"
      settings=("${digits[@]}" ROUNDS=2 ITERS=9000) ;;
    digits-mined-4)
      what="the same in 4 rounds of 7,500 iterations (3 of them mined)"
      settings=("${digits[@]}" ROUNDS=3 ITERS=7500) ;;
    digits-unmined)
      what="digits-mined's rounds with no hard negatives (mine --hard-ratio 0): its control"
      settings=("${digits[@]}" ROUNDS=2 ITERS=9000 HARD_RATIO=0) ;;
    digits-poly)
      what="the demo's recipe, 30,000 iterations, the learning rate falling linearly to 0"
      settings=("${digits[@]}" ROUNDS=0 ITERS=30000 "SOLVER_ARGS=--lr-policy poly --power 1") ;;
    digits-unseen-baseline)
      what="make demo's recipe trained on the digits 0-4 only, tested on 5-9"
      settings=("${digits[@]}" "${unseen_digits[@]}" ROUNDS=0 ITERS=15000) ;;
    digits-unseen-mined)
      what="digits 0-4 only: 5,000 iterations, then 2 rounds of 5,000 on mined pairs; tested on 5-9"
      settings=("${digits[@]}" "${unseen_digits[@]}" ROUNDS=2 ITERS=5000) ;;
    fashion-shipped)
      what="templates/fashion_mnist.yaml and its solver: 6,500 iterations"
      settings=() script=bench/fashion_recipe.sh ;;
    fashion-16k)
      what="the shipped recipe, its linear decay stretched to 16,000 iterations"
      settings=(ITERS=16000) script=bench/fashion_recipe.sh ;;
    fashion-mined)
      what="the shipped tower: 7,500 iterations, then 7,500 on mined pairs (each decaying to 0)"
      settings=("${fashion[@]}" ROUNDS=1 ITERS=7500 TEST_ITER=20) ;;
    fashion-unseen-baseline)
      what="the shipped recipe trained on Fashion-MNIST's classes 0-5, tested on 6-9"
      settings=("${unseen_fashion[@]}") script=bench/fashion_recipe.sh ;;
    fashion-unseen-2k)
      what="the same, 2,000 iterations"
      settings=("${unseen_fashion[@]}" ITERS=2000) script=bench/fashion_recipe.sh ;;
    fashion-unseen-contrastive64)
      what="the same, 2,000 iterations, Caffe's contrastive loss (margin 1), 64-D"
      settings=("${unseen_fashion[@]}" ITERS=2000 TAG=c64
        "NET_ARGS=--loss contrastive --margin 1 --feature-size 64")
      script=bench/fashion_recipe.sh ;;
    fashion-unseen-augment)
      what="the shipped recipe on 300,000 augmented pairs of classes 0-5, tested on 6-9"
      settings=("${fashion[@]}" "${unseen_fashion[@]}" PAIRS=300000 AUGMENT=1 ROUNDS=0 ITERS=6500) ;;
    fashion-unseen-wide)
      what="bench/nets/fashion_wide.yaml (wider, 64-D) on classes 0-5, tested on 6-9"
      settings=("${fashion[@]}" "${unseen_fashion[@]}" "SPEC=$repo/bench/nets/fashion_wide.yaml"
        PAIRS=300000 ROUNDS=0 ITERS=6500) ;;
    fashion-unseen-mined)
      what="classes 0-5: 7,000 iterations, then 3 rounds of 7,000 on mined pairs; tested on 6-9"
      settings=("${fashion[@]}" "${unseen_fashion[@]}" ROUNDS=3 ITERS=7000
        "SOLVER_ARGS=--base-lr 0.02") ;;
    *) return 1 ;;
  esac
}

if [ "${1:-}" = --list ]; then
  for name in "${names[@]}"; do recipe "$name"; printf '%-30s %s\n' "$name" "$what"; done
  exit 0
fi
[ $# -eq 2 ] || { echo "usage: $0 RECIPE WORKDIR (recipes: $0 --list)" >&2; exit 2; }
recipe "$1" || { echo "metric_results: no recipe '$1' (recipes: $0 --list)" >&2; exit 2; }
work=$(realpath -m "$2")
[ ! -e "$work" ] || { echo "metric_results: $work exists; remove it or choose another" >&2; exit 2; }
echo "==> $1: ${settings[*]} $script"
args=("$work")
[ "$script" != bench/fashion_recipe.sh ] || args+=(1)  # its seed
exec env "${settings[@]}" "$repo/$script" "${args[@]}"
