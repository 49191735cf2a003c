#!/usr/bin/env bash
# The shipped Fashion-MNIST recipe, trained and evaluated the way a user would run it: the tower
# templates/fashion_mnist.yaml and its solver templates/fashion_mnist_solver.prototxt, one BLAS
# thread, on balanced Fashion-MNIST pairs (LMDB, 600,000 train pairs), evaluated on the 10,000
# held-out test pairs. Prints the held-out pair accuracy and the CPU time (user+sys) of the caffe
# process against the 7.8 CPU-minute budget. Run it alone: other work on the machine slows Caffe
# per iteration, CPU time included.
#
#   bench/fashion_recipe.sh [WORKDIR] [SEED]    (default /var/tmp/caffesiam_sweep_fashion, 1)
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
work=$(realpath -m "${1:-/var/tmp/caffesiam_sweep_fashion}")
seed=${2:-1}
cs=$repo/.venv/bin/caffesiam
data=$work/data/plain
[ -e "$data/fashion_mnist_siamese_test_lmdb" ] ||
  nice -n 10 "$cs" build-db fashion-mnist --backend lmdb --pairs 600000 --out "$data"

run=$work/recipe_seed$seed
if [ -e "$run" ]; then echo "fashion_recipe: $run exists; remove it or pick another seed" >&2; exit 2; fi
mkdir -p "$run" && cd "$run"
"$cs" gen-net "$repo/templates/fashion_mnist.yaml" -o fashion_mnist_train_test.prototxt \
  --train-source "$data/fashion_mnist_siamese_train_lmdb" --test-source "$data/fashion_mnist_siamese_test_lmdb"
"$cs" gen-net "$repo/templates/fashion_mnist.yaml" --deploy -o fashion_mnist_deploy.prototxt
sed "s/^random_seed: .*/random_seed: $seed/" "$repo/templates/fashion_mnist_solver.prototxt" > solver.prototxt
"$cs" train solver.prototxt --blas-threads 1 --out train
iters=$(sed -n 's/^max_iter: //p' solver.prototxt)
"$cs" evaluate --model fashion_mnist_deploy.prototxt --weights "snap/fashion_mnist_iter_$iters.caffemodel" \
  --train-net fashion_mnist_train_test.prototxt --db "$data/fashion_mnist_siamese_test_lmdb" --json eval.json
python3 - <<PY
import json
e, u = json.load(open("eval.json")), json.load(open("train/usage.json"))
print(f"fashion_recipe (seed $seed): held-out pair accuracy {e['best_threshold_accuracy']:.2%} (AUC {e['auc']:.4f}, "
      f"EER {e['eer']:.2%}); caffe used {u['cpu_seconds'] / 60:.2f} CPU-minutes (user+sys) in "
      f"{u['wall_seconds'] / 60:.2f} minutes wall for $iters iterations; budget 7.8: "
      f"{'within' if u['cpu_seconds'] <= 468 else 'OVER'}")
PY
