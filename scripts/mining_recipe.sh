#!/usr/bin/env bash
# Offline hard-negative mining, round by round, as Caffe users do it: build-db, gen-net and
# gen-solver, train ITERS iterations; then ROUNDS times: `caffesiam mine` a new train database
# with the latest weights (a share of the negatives drawn among each image's nearest images of
# other classes; sim=1 means same class) and train ITERS more on it from the snapshot (--resume:
# the iteration count, the learning-rate schedule and the momentum carry on); then evaluate.
# Seeded. Prints the CPU time (user+sys) of training (the caffe processes) and of mining (its
# own forward passes included), and their sum: the cost of the recipe.
#
#   scripts/mining_recipe.sh WORKDIR
#
# Settings, from the environment:
#   DATASET       digits (default) or fashion-mnist
#   ITERS         iterations per round (2000); ROUNDS: mining rounds (2), so (ROUNDS+1) x ITERS;
#                 ROUNDS=0 trains once, with no mining: a plain recipe, costed and evaluated alike
#   NEIGHBOURS    mine --neighbours (10); HARD_RATIO: mine --hard-ratio (0.5)
#   PAIRS         pairs per train database [default: one per train image]; TEST_PAIRS: pairs in
#                 the test database [default: one per test image]
#   AUGMENT       1: every train database jittered (build-db and mine --augment), as make demo's
#   TRAIN_CLASSES, TEST_CLASSES   a class-disjoint split, both or neither (e.g. 0-5 and 6-9)
#   SPEC          the tower (templates/lenet_relu.yaml); SEED (1); TEST_ITER (10)
#   SOLVER_ARGS   more gen-solver options, split at spaces (e.g. "--base-lr 0.02"); round r's
#                 max_iter is (r+1) x ITERS, so under "--lr-policy poly" each round's rate falls
#                 to 0 at its own end and the next round starts it again, lower
#   BLAS_THREADS  train --blas-threads (1, so that a second run repeats the first)
#   CAFFESIAM     the caffesiam to run (this checkout's .venv/bin/caffesiam)
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
[ $# -eq 1 ] || { echo "usage: $0 WORKDIR" >&2; exit 2; }
work=$(realpath -m "$1")
cs=${CAFFESIAM:-$repo/.venv/bin/caffesiam}
dataset=${DATASET:-digits}
iters=${ITERS:-2000}
rounds=${ROUNDS:-2}
seed=${SEED:-1}
spec=$(realpath -m "${SPEC:-$repo/templates/lenet_relu.yaml}")
train_classes=${TRAIN_CLASSES:-}
test_classes=${TEST_CLASSES:-}
fail() { echo "mining_recipe: $*" >&2; exit 2; }
for n in ITERS:"$iters" ROUNDS:"$rounds" SEED:"$seed" TEST_ITER:"${TEST_ITER:-10}"; do
  [[ ${n#*:} =~ ^[0-9]+$ ]] || fail "${n%%:*} must be a number, got '${n#*:}'"
done
[ "$iters" -gt 0 ] || fail "ITERS must be at least 1"
case $dataset in
  digits) prefix=digits ;;
  fashion-mnist) prefix=fashion_mnist ;;
  *) fail "DATASET must be digits or fashion-mnist, got '$dataset'" ;;
esac
if [[ -z $train_classes && -n $test_classes || -n $train_classes && -z $test_classes ]]; then
  fail "give TRAIN_CLASSES and TEST_CLASSES together, or neither"
fi
[ ! -e "$work" ] || fail "$work exists; remove it or choose another"

pairs=(); [ -z "${PAIRS:-}" ] || pairs=(--pairs "$PAIRS")
test_pairs=(); [ -z "${TEST_PAIRS:-}" ] || test_pairs=(--test-pairs "$TEST_PAIRS")
augment=()
case ${AUGMENT:-0} in 0) ;; 1) augment=(--augment) ;; *) fail "AUGMENT must be 0 or 1, got '$AUGMENT'" ;; esac
split_db=(); mine_images=(--split train); eval_images=(--split test)
if [ -n "$train_classes" ]; then
  split_db=(--train-classes "$train_classes" --test-classes "$test_classes")
  mine_images=(--classes "$train_classes"); eval_images=(--classes "$test_classes")
  # digits have no split of their own: with class lists every image goes to its class's database
  if [ "$dataset" = digits ]; then mine_images+=(--split all); eval_images+=(--split all); fi
fi
threads=(--blas-threads "${BLAS_THREADS:-1}")
step() { echo; echo "==> $*"; }
sum() { awk -v a="$1" -v b="$2" 'BEGIN { print a + b }'; }
seconds() { sed -n "s/$2/\\1/p" "$1"; }  # FILE PATTERN: the number PATTERN's \(group\) holds
mkdir -p "$work" && cd "$work"

# build-db's own seed: mine --digits and evaluate --digits read the images that its default seed
# holds out or keeps; SEED seeds the training and the mining rounds
step "pair databases: $dataset, balanced (sim=1 means same class)"
"$cs" build-db "$dataset" --out data "${split_db[@]}" "${pairs[@]}" "${test_pairs[@]}" "${augment[@]}"
test_db=data/${prefix}_siamese_test_leveldb

# round r's net reads round r's train database; every round snapshots to snap/net_iter_*
net_for_round() {  # ROUND TRAIN_DB
  mkdir -p "round$1"
  "$cs" gen-net "$spec" --train-source "$2" --test-source "$test_db" --backend leveldb \
    -o "round$1/net.prototxt"
  # shellcheck disable=SC2086  # SOLVER_ARGS is a list of options
  "$cs" gen-solver "round$1/net.prototxt" ${SOLVER_ARGS:-} --max-iter $(( ($1 + 1) * iters )) --snapshot "$iters" \
    --test-interval "$iters" --test-iter "${TEST_ITER:-10}" --weight-decay 0.0005 \
    --random-seed "$seed" --snapshot-prefix snap/net -o "round$1/solver.prototxt"
}
train_cpu() { seconds "$1" '^time: .* s wall, \([0-9.]*\) s CPU.*'; }
"$cs" gen-net "$spec" --deploy --deploy-batch 100 -o deploy.prototxt
net_for_round 0 "data/${prefix}_siamese_train_leveldb"
step "round 0: training $iters iterations"
"$cs" train round0/solver.prototxt --out round0/train "${threads[@]}" | tee round0/train.txt
training=$(train_cpu round0/train.txt)
mining=0; forward=0
for (( r = 1; r <= rounds; r++ )); do
  done_iters=$(( r * iters ))
  step "round $r: mining with snap/net_iter_$done_iters.caffemodel"
  mkdir -p "round$r"
  "$cs" mine --model deploy.prototxt --weights "snap/net_iter_$done_iters.caffemodel" \
    --train-net "round$(( r - 1 ))/net.prototxt" "--$dataset" "${mine_images[@]}" \
    --neighbours "${NEIGHBOURS:-10}" --hard-ratio "${HARD_RATIO:-0.5}" --seed $(( seed + r )) \
    "${pairs[@]}" "${augment[@]}" --out "round$r" | tee "round$r/mine.txt"
  mined=round$r/mine.txt
  mining=$(sum "$mining" "$(seconds "$mined" '^mining CPU time: \([0-9.]*\) s in all.*')")
  forward=$(sum "$forward" "$(seconds "$mined" '.*of which \([0-9.]*\) s the forward passes.*')")
  net_for_round "$r" "round$r/${prefix}_mined_siamese_train_leveldb"
  step "round $r: training $iters more iterations from snap/net_iter_$done_iters.solverstate"
  "$cs" train "round$r/solver.prototxt" --resume "snap/net_iter_$done_iters.solverstate" \
    --out "round$r/train" "${threads[@]}" | tee "round$r/train.txt"
  training=$(sum "$training" "$(train_cpu "round$r/train.txt")")
done

total_iters=$(( (rounds + 1) * iters ))
step "evaluating snap/net_iter_$total_iters.caffemodel on $test_db"
"$cs" evaluate --model deploy.prototxt --weights "snap/net_iter_$total_iters.caffemodel" \
  --train-net "round$rounds/net.prototxt" --db "$test_db" "--$dataset" "${eval_images[@]}" \
  --json eval.json

step "cost (CPU time, user+sys)"
awk -v t="$training" -v m="$mining" -v f="$forward" -v i="$total_iters" -v r="$rounds" 'BEGIN {
  printf "training: %.1f s (caffe, %d iterations)\n", t, i
  printf "mining:   %.1f s (%d rounds; %.1f s of it the forward passes that embed the images)\n",
    m, r, f
  printf "total:    %.1f s\n", t + m
}'
