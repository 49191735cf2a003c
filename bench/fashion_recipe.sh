#!/usr/bin/env bash
# The shipped Fashion-MNIST recipe, trained and evaluated the way a user would run it: the tower
# templates/fashion_mnist.yaml and its solver templates/fashion_mnist_solver.prototxt, one BLAS
# thread, on balanced Fashion-MNIST pairs (LMDB, 600,000 train pairs), evaluated on 10,000
# held-out test pairs and on the test images (k-fold accuracy, retrieval, one-shot). Prints the
# held-out pair accuracy and the CPU time (user+sys) of the caffe process against the 7.8
# CPU-minute budget. Run it alone: other work on the machine slows Caffe per iteration, CPU time
# included.
#
#   bench/fashion_recipe.sh [WORKDIR] [SEED]    (default /var/tmp/caffesiam_sweep_fashion, 1)
#
# TRAIN_CLASSES and TEST_CLASSES (both or neither, e.g. 0-5 and 6-9) train on some classes and
# test on the others, which the net never sees: build-db's class-disjoint split. ITERS sets the
# solver's max_iter (its learning rate still falls linearly to 0 there); BUDGET, in CPU-minutes,
# what the caffe process's CPU time is judged against (7.8). NET_ARGS: more gen-net options for
# both nets, split at spaces (e.g. "--feature-size 64"); TAG, a suffix for the run's directory.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
work=$(realpath -m "${1:-/var/tmp/caffesiam_sweep_fashion}")
seed=${2:-1}
budget=${BUDGET:-7.8}
cs=$repo/.venv/bin/caffesiam
train_classes=${TRAIN_CLASSES:-}; test_classes=${TEST_CLASSES:-}
if [[ -z $train_classes && -n $test_classes || -n $train_classes && -z $test_classes ]]; then
  echo "fashion_recipe: give TRAIN_CLASSES and TEST_CLASSES together, or neither" >&2; exit 2
fi
data=$work/data/plain; split=(); classes=(); run=$work/recipe_seed$seed${ITERS:+_iters$ITERS}${TAG:+_$TAG}
if [ -n "$train_classes" ]; then
  data=$work/data/classes_${train_classes}_${test_classes}; run=${run}_classes_${train_classes}_${test_classes}
  split=(--train-classes "$train_classes" --test-classes "$test_classes"); classes=(--classes "$test_classes")
fi
[ -e "$data/fashion_mnist_siamese_test_lmdb" ] ||
  nice -n 10 "$cs" build-db fashion-mnist --backend lmdb --pairs 600000 --test-pairs 10000 "${split[@]}" \
    --out "$data"

if [ -e "$run" ]; then echo "fashion_recipe: $run exists; remove it or pick another seed" >&2; exit 2; fi
mkdir -p "$run" && cd "$run"
# shellcheck disable=SC2086  # NET_ARGS is a list of options
"$cs" gen-net "$repo/templates/fashion_mnist.yaml" ${NET_ARGS:-} -o fashion_mnist_train_test.prototxt \
  --train-source "$data/fashion_mnist_siamese_train_lmdb" --test-source "$data/fashion_mnist_siamese_test_lmdb"
# shellcheck disable=SC2086
"$cs" gen-net "$repo/templates/fashion_mnist.yaml" ${NET_ARGS:-} --deploy -o fashion_mnist_deploy.prototxt
template=$repo/templates/fashion_mnist_solver.prototxt
sed -e "s/^random_seed: .*/random_seed: $seed/" \
  -e "s/^max_iter: .*/max_iter: ${ITERS:-$(sed -n 's/^max_iter: //p' "$template")}/" "$template" > solver.prototxt
"$cs" train solver.prototxt --blas-threads 1 --out train
iters=$(sed -n 's/^max_iter: //p' solver.prototxt)
"$cs" evaluate --model fashion_mnist_deploy.prototxt --weights "snap/fashion_mnist_iter_$iters.caffemodel" \
  --train-net fashion_mnist_train_test.prototxt --db "$data/fashion_mnist_siamese_test_lmdb" \
  --fashion-mnist "${classes[@]}" --json eval.json
python3 - <<PY
import json
e, u = json.load(open("eval.json")), json.load(open("train/usage.json"))
r, k = e["retrieval"], e["kfold"]
print(f"fashion_recipe (seed $seed): held-out pair accuracy {e['best_threshold_accuracy']:.2%} (AUC {e['auc']:.4f}, "
      f"EER {e['eer']:.2%}; {k['folds']}-fold {k['accuracy']:.2%} ± {k['standard_error']:.2%}; MAP@R {r['map_at_r']:.2%}, "
      f"{r['one_shot']['way']}-way one-shot {r['one_shot']['accuracy']:.2%}); caffe used {u['cpu_seconds'] / 60:.2f} CPU-minutes (user+sys) in "
      f"{u['wall_seconds'] / 60:.2f} minutes wall for $iters iterations; budget $budget: "
      f"{'within' if u['cpu_seconds'] <= $budget * 60 else 'OVER'}")
PY
