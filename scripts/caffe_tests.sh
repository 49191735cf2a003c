#!/usr/bin/env bash
# make caffe-tests: Caffe's own gtest suite for the layers and functions that the speed patches
# change, built against this checkout's installed Caffe (the one `make setup` links into .venv)
# and run under several thread counts and convolution column budgets.
#
#   scripts/caffe_tests.sh [--venv DIR]
#
# CAFFESIAM_CAFFE_PATCHES=stock tests the stock build instead (build it with that variable set
# and `make setup` first), for counts to compare. The test sources come from the same tarball
# with the same patches applied; the build (a few minutes on two cores the first time) is kept
# in build/caffe-tests/<build key>.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cd "$here/.."
# shellcheck source=install_caffe.sh
. scripts/install_caffe.sh
prog=caffe_tests

# test_<name>.cpp files: what the patches change, and what is built on it (LRN and SPP pool,
# the solvers' tests train inner products through caffe_cpu_gemm; neuron_layer holds ReLU's and
# PReLU's tests; only batch_norm_layer and scale_layer use BatchNorm and Scale).
tests=(convolution_layer deconvolution_layer im2col_layer pooling_layer maxpool_dropout_layers
  spp_layer lrn_layer neuron_layer batch_norm_layer scale_layer inner_product_layer
  contrastive_loss_layer util_blas math_functions net)

# Each: a label, then the environment of one run of the binary. The tests' blobs are small, so
# by default most loops run on one thread; the third run threads every loop and puts one image
# in each batch. The last two run the convolution tests with oneDNN switched on (speed/06): in
# the layout it picks (blocked, at the tests' few channels) and in NHWC. There,
# TestNDAgainst2D stays out: it asks the 2-D and the N-D im2col paths for bitwise-equal floats,
# which only im2col + GEMM gives (it runs in the first three); tests/test_caffe_layers.py
# checks oneDNN against numpy instead.
not_bitwise=-ConvolutionLayerTest/0.TestNDAgainst2D
runs=("all cores, default column budget|"
  "1 thread|OMP_NUM_THREADS=1"
  "2 threads, every loop threaded, one image per batch|OMP_NUM_THREADS=2 CAFFE_CPU_MIN_THREADED_WORK=0 CAFFE_CONV_BATCH_BYTES=1"
  "oneDNN, convolution tests|CAFFE_CONV_DNNL=1 GTEST_FILTER=*Convolution*$not_bitwise"
  "oneDNN in NHWC, convolution tests|CAFFE_CONV_DNNL=nhwc GTEST_FILTER=*Convolution*$not_bitwise")

venv_arg=.venv
if [ "${1:-}" = --venv ]; then
  [ $# -ge 2 ] || usage_error "--venv needs a value"
  venv_arg=$2
fi
require_installed_build "$venv_arg"
say "testing $prefix ($(selected_patches | xargs -n1 basename | tr '\n' ' '))"

work=$PWD/build/caffe-tests/$key
prepare_sources() {
  rm -rf "$work/src" "$work/src.root"
  unpack_source "$src" "$work/src"
  local patch root
  root=$(cat "$work/src.root")
  while read -r patch; do patch -d "$root" -p1 -N -i "$patch"; done < <(selected_patches)
  touch "$work/src.ready"
}
build_tests() {
  mkdir -p "$work/build"
  configure "$here/caffe_tests" "$work/build" -DCMAKE_BUILD_TYPE=Release \
    "-DCaffe_DIR=$prefix/share/Caffe" "-DCAFFE_SOURCE=$(cat "$work/src.root")" "-DCAFFE_TESTS=$(IFS=';'; echo "${tests[*]}")"
  nice -n 10 make -C "$work/build" -j"$jobs"
}
mkdir -p "$work"
if [ ! -f "$work/src.ready" ]; then step "unpack and patch the test sources" prepare_sources; fi
step "build ${#tests[@]} Caffe test files (first time: minutes)" build_tests

failed=0
for run in "${runs[@]}"; do
  label=${run%%|*}
  read -r -a run_env <<<"${run#*|}"
  log=$work/run-${label//[^A-Za-z0-9]/-}.log
  set +e
  # The source root: tests that read test data find it by relative path.
  (cd "$(cat "$work/src.root")" && env "${run_env[@]}" GLOG_minloglevel=2 "$work/build/caffe_tests") >"$log" 2>&1
  status=$?
  set -e
  passed=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) tests\{0,1\}\..*/\1/p' "$log")
  total=$(sed -n 's/^\[==========\] \([0-9]*\) tests\{0,1\} from \([0-9]*\) test cases\{0,1\} ran.*/\1 tests from \2 test cases/p' "$log")
  if [ "$status" = 0 ]; then
    say "$label: ${passed:-?} of ${total:-?} passed"
  else
    failed=1
    echo "caffe_tests: $label: FAILED (exit $status); failing tests:" >&2
    grep '^\[  FAILED  \]' "$log" | sed 's/^/    /' >&2 || tail -n 20 "$log" | sed 's/^/    /' >&2
    echo "    full log: $log" >&2
  fi
done
exit "$failed"
