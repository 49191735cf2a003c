#!/usr/bin/env bash
# Checks, stage by stage, that caffesiam's Caffe builds and runs on a GPU host without internet:
# a machine with an NVIDIA GPU and its driver, a CUDA 12 or 13 toolkit (nvcc on PATH, or
# CUDA_HOME), cmake, make, a C++ compiler, patch, xz and Python 3, but no package registry. What
# it lacks comes in the bundle that scripts/offline_bundle.sh makes where the registries are.
#
#   scripts/offline_gpu_check.sh STAGE [--bundle DIR] [--work DIR] [--out DIR] [--arch LIST]
#
#   configure   cmake configure only: where every dependency was found
#   build       install_caffe.sh --gpu --no-python, with the host's toolkit
#   gtest       `caffe device_query`, then Caffe's own GPU tests for convolution, pooling, inner
#               product, ReLU, contrastive loss and slice (cuDNN and Caffe engines), and
#               PlatformTest
#   train       the demo recipe (scripts/demo.sh) with `train --gpu 0`; its metrics, log and
#               weights go to the --out folder
#   bench       bench/gpu_peer.py: `caffe time -gpu 0` against PyTorch on the same GPU, as ratios
#   compare OUTDIR   run where the CPU demo ran (make demo): the train stage's losses (OUTDIR is
#               its --out folder, copied back) beside the CPU run's, and its weights evaluated
#               on the demo's held-out pairs with the CPU pycaffe
#
#   --bundle DIR   the bundle (default: offline-bundle/ in the checkout)
#   --work DIR     the build and its dependencies, kept between stages (default: offline-work/)
#   --out DIR      the stages' logs and results (default: WORK/out)
#   --arch LIST    SASS architectures to build, e.g. "80 90" (default: $CAFFESIAM_CUDA_ARCH, else
#                  the compute capability of this host's GPUs, else install_caffe.sh's list)
#
# Run build before gtest, train and bench. cuDNN and NCCL: the toolkit's own, else PyTorch's pip
# packages (nvidia.cudnn, nvidia.nccl) when PyTorch was built for the same CUDA major; with no
# matching cuDNN the build is --no-cudnn. train and bench install caffesiam into .venv from the
# bundle's wheels, which are for the bundle's --python-version; bench needs PyTorch with CUDA.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

say() { echo "== $*"; }
die() { echo "offline_gpu_check: $*" >&2; exit 1; }
usage_error() { echo "offline_gpu_check: $*" >&2; exit 2; }

# Debian's packages unpacked once; protoc runs through a wrapper that finds its libraries
# (the build's own binaries find theirs through the rpath).
deps_env() {
  local deps=$work/deps
  if [ ! -d "$deps/usr" ]; then
    [ -f "$bundle/deps.tar.xz" ] || die "no $bundle/deps.tar.xz: make the bundle with scripts/offline_bundle.sh where the registries are and copy it here (or pass --bundle DIR)"
    mkdir -p "$deps"
    tar -C "$deps" -xJf "$bundle/deps.tar.xz"
    # Out of CMake's prefix search (usr/bin), so that it finds the wrapper on PATH instead.
    mv "$deps/usr/bin/protoc" "$deps/usr/bin/protoc.real"
  fi
  mkdir -p "$work/bin"
  printf '#!/bin/sh\nLD_LIBRARY_PATH=%s exec %s "$@"\n' "$deps/usr/lib/x86_64-linux-gnu" "$deps/usr/bin/protoc.real" >"$work/bin/protoc"
  chmod +x "$work/bin/protoc"
  export PATH=$work/bin:$PATH CMAKE_PREFIX_PATH=$deps/usr
  # Caffe's rpath names the bundle's libraries it links, but not what those link in turn (glog's
  # libunwind): the loader finds them here, on a machine that has none of Debian's packages.
  export LD_LIBRARY_PATH=$deps/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
  # The pinned source (Debian's or PyPI's tarball), where install_caffe.sh looks for it first.
  mkdir -p "$CAFFESIAM_CACHE/downloads"
  cp -n "$bundle"/*.tar.gz "$CAFFESIAM_CACHE/downloads/" 2>/dev/null || true
}

# Sets install_args: --no-cudnn unless a cuDNN of the toolkit's CUDA major is found.
cuda_env() {
  command -v nvcc >/dev/null || [ -n "${CUDA_HOME:-}" ] || die "no nvcc on PATH and no CUDA_HOME"
  install_args=(--gpu --no-python --skip-system-packages)
  local nvcc=${CUDA_HOME:+$CUDA_HOME/bin/}nvcc major torch_cuda
  major=$("$nvcc" --version | sed -n 's/.*release \([0-9]*\)\..*/\1/p')
  torch_cuda=$(python3 -c 'import torch; print(torch.version.cuda or "")' 2>/dev/null || true)
  say "nvcc: CUDA $major; PyTorch built for CUDA ${torch_cuda:-none}"
  local root
  root=$(python3 -c 'import nvidia.nccl, os; print(os.path.dirname(nvidia.nccl.__file__) if nvidia.nccl.__file__ else nvidia.nccl.__path__[0])' 2>/dev/null || true)
  if [ -n "$root" ] && [ -z "${NCCL_ROOT:-}" ]; then export NCCL_ROOT=$root; fi
  root=$(python3 -c 'import nvidia.cudnn, os; print(os.path.dirname(nvidia.cudnn.__file__) if nvidia.cudnn.__file__ else nvidia.cudnn.__path__[0])' 2>/dev/null || true)
  if [ -n "$root" ] && [ -z "${CUDNN_ROOT:-}" ] && [ "${torch_cuda%%.*}" = "$major" ]; then export CUDNN_ROOT=$root; fi
  local home=${CUDA_HOME:-$(dirname "$(dirname "$(command -v nvcc)")")}
  if [ -z "${CUDNN_ROOT:-}" ] && ! compgen -G "$home/include/cudnn*.h" >/dev/null; then
    say "no cuDNN for CUDA $major here: building with --no-cudnn (Caffe's own engine)"
    install_args+=(--no-cudnn)
  fi
  say "CUDNN_ROOT=${CUDNN_ROOT:-} NCCL_ROOT=${NCCL_ROOT:-}"
}

prefix_of_build() { ls -d "$CAFFESIAM_CACHE"/caffe-*/ 2>/dev/null | head -n1 | sed 's:/$::'; }

# install_caffe.sh's own steps up to `cmake configure`, into TREE/src and TREE/build, with the
# arguments in $@ (run in a subshell of its own: it sources install_caffe.sh).
configure_tree() {
  local tree=$1 root patch flags=()
  shift
  # shellcheck source=install_caffe.sh
  . "$repo/scripts/install_caffe.sh"
  parse_args "$@"
  resolve_source
  resolve_cuda_toolkit
  rm -rf "$tree"
  unpack_source "$src" "$tree/src"
  root=$(cat "$tree/src.root")
  while read -r patch; do patch -s -d "$root" -p1 -N -i "$patch"; done < <(selected_patches)
  mapfile -t flags < <(cmake_flags /usr/bin/python3 "$tree/prefix")
  mkdir -p "$tree/build"
  configure "$root" "$tree/build" "${flags[@]}"
}

stage_configure() {
  deps_env; cuda_env
  local tree=$work/configure
  (configure_tree "$tree" "${install_args[@]}") | tee "$out/cmake-configure.log" \
    | grep -E 'CUDA detected|cuDNN|NCCL|Added CUDA|Found|BLAS'
  grep -E '^(GLOG|GFLAGS|HDF5_hdf5[a-z_]*_LIBRARY_RELEASE|LevelDB|LMDB|Snappy|OpenBLAS|Protobuf|Boost_(SYSTEM|THREAD|FILESYSTEM)_LIBRARY_RELEASE|CUDA_(TOOLKIT_ROOT_DIR|CUDART_LIBRARY|cublas_LIBRARY|curand_LIBRARY)|CUDNN_LIBRARY|NCCL_LIBRARIES)[A-Za-z_]*:' \
    "$tree/build/CMakeCache.txt" | sed 's/^/  /'
  rm -rf "$tree"
}

stage_build() {
  deps_env; cuda_env
  local start; start=$(date +%s)
  bash "$repo/scripts/install_caffe.sh" "${install_args[@]}"
  say "install_caffe.sh ${install_args[*]} (arch ${CAFFESIAM_CUDA_ARCH:-install_caffe.sh default}) took $(( $(date +%s) - start )) s"
  local prefix; prefix=$(prefix_of_build)
  "$prefix/bin/caffe" --version
  printf '%s\n' "${install_args[@]}" >"$work/install_args"
}

# Caffe's gtest binary, built in a tree of its own with install_caffe.sh's patches and flags.
build_gtest() {
  local tree=$work/gtest args
  mapfile -t args <"$work/install_args"
  if [ ! -f "$tree/build/Makefile" ]; then
    (configure_tree "$tree" "${args[@]}") >"$out/gtest-configure.log" 2>&1 \
      || { tail -n 30 "$out/gtest-configure.log"; die "configuring the gtest tree failed"; }
  fi
  make -C "$tree/build" -j"$(nproc)" test.testbin >"$out/gtest-build.log" 2>&1 \
    || { tail -n 30 "$out/gtest-build.log"; die "building test.testbin failed"; }
  gtest_bin=$tree/build/test/test.testbin
  gtest_root=$(cat "$tree/src.root")
}

stage_gtest() {
  deps_env; cuda_env
  [ -f "$work/install_args" ] || die "run the build stage first"
  local prefix; prefix=$(prefix_of_build)
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv | tee "$out/nvidia-smi.csv"
  "$prefix/bin/caffe" device_query -gpu 0 2>&1 | tee "$out/device_query.log"
  build_gtest
  # Typed tests: /0 and /1 run on the CPU (float, double), /2 and /3 on the GPU; the CuDNN tests
  # are GPU-only (absent from a --no-cudnn build).
  local filter="PlatformTest.*:ConvolutionLayerTest/2.*:ConvolutionLayerTest/3.*:CuDNNConvolutionLayerTest/*"
  filter+=":PoolingLayerTest/2.*:PoolingLayerTest/3.*:CuDNNPoolingLayerTest/*"
  filter+=":InnerProductLayerTest/2.*:InnerProductLayerTest/3.*"
  filter+=":NeuronLayerTest/2.*ReLU*:NeuronLayerTest/3.*ReLU*:CuDNNNeuronLayerTest/*ReLU*"
  filter+=":ContrastiveLossLayerTest/2.*:ContrastiveLossLayerTest/3.*:SliceLayerTest/2.*:SliceLayerTest/3.*"
  (cd "$gtest_root" && "$gtest_bin" --gtest_filter="$filter" 0) 2>&1 | tee "$out/gtest.log" | grep -E '^\[  (PASSED|FAILED) |^\[==========\]|FAILED' || true
  grep -q '^\[  PASSED  \]' "$out/gtest.log" && ! grep -q '^\[  FAILED  \]' "$out/gtest.log" \
    || die "Caffe's GPU tests failed (see $out/gtest.log)"
}

# caffesiam in .venv, as scripts/demo.sh expects, from the bundle's wheels; PyTorch, and numpy
# when the host has one, are the host's own (the venv sees the system's packages). Exports
# CAFFESIAM_CAFFE_HOME.
host_venv() {
  local prefix; prefix=$(prefix_of_build)
  [ -n "$prefix" ] || die "run the build stage first"
  if [ ! -x "$repo/.venv/bin/caffesiam" ]; then
    python3 -m venv --system-site-packages "$repo/.venv"
    "$repo/.venv/bin/pip" install -q --no-index --find-links "$bundle/wheels" -r "$bundle/requirements.txt"
    "$repo/.venv/bin/pip" install -q --no-index --no-deps --find-links "$bundle/wheels" \
      -r "$bundle/requirements-no-deps.txt"
    "$repo/.venv/bin/pip" install -q --no-index --no-deps --no-build-isolation -e "$repo"
  fi
  "$repo/.venv/bin/python" -c 'import numpy; print("numpy", numpy.__version__)'
  export CAFFESIAM_CAFFE_HOME=$prefix
}

stage_train() {
  deps_env
  host_venv
  (cd "$repo" && DEMO_TRAIN_ONLY=1 DEMO_TRAIN_ARGS="--gpu 0" bash scripts/demo.sh) 2>&1 | tee "$out/demo.log"
  cp -r "$repo/demo/run" "$out/run"
  cp "$repo"/demo/*.prototxt "$out/"
  cp "$repo"/demo/snapshots/*.caffemodel "$out/"
}

stage_bench() {
  deps_env
  host_venv
  "$repo/.venv/bin/python" "$repo/bench/gpu_peer.py" | tee "$out/gpu_peer.txt"
}

# Where the CPU demo ran (make demo, in demo/), with the train stage's --out folder copied back:
# the GPU run's losses beside the CPU run's, and the GPU weights' accuracy on the held-out pairs.
stage_compare() {
  local gpu=$1
  "$repo/.venv/bin/python" - "$gpu/run/metrics.csv" "$repo/demo/run/metrics.csv" <<'EOF'
import csv, sys

def losses(path, phase):
    return {int(r["iteration"]): float(r["loss"]) for r in csv.DictReader(open(path)) if r["phase"] == phase}

for phase, step in (("train", 1000), ("test", 1)):
    gpu, cpu = losses(sys.argv[1], phase), losses(sys.argv[2], phase)
    print(f"{phase} loss   iteration      GPU       CPU   GPU/CPU")
    for i in sorted(set(gpu) & set(cpu)):
        if i % step == 0:
            print(f"{'':13}{i:9d} {gpu[i]:9.5f} {cpu[i]:9.5f} {gpu[i] / cpu[i]:8.3f}")
EOF
  local weights; weights=$(ls "$gpu"/*.caffemodel | head -n1)
  "$repo/.venv/bin/caffesiam" evaluate --model "$repo/demo/lenet_relu_deploy.prototxt" --weights "$weights" \
    --train-net "$repo/demo/lenet_relu_train_test.prototxt" --db "$repo/demo/digits_siamese_test_leveldb"
}

# The compute capabilities of this host's GPUs as SASS architectures ("8.6" -> "86"), if any.
host_gpu_arch() {
  command -v nvidia-smi >/dev/null || return 0
  nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | tr -d '. ' \
    | grep -E '^[0-9]+$' | sort -un | paste -sd' ' || true
}

parse_args() {
  bundle=$repo/offline-bundle work=$repo/offline-work out="" arch="" stage="" compare_dir=""
  while [ $# -gt 0 ]; do
    case "$1" in
      --bundle|--work|--out|--arch)
        [ $# -ge 2 ] && [ -n "$2" ] && [ "${2#--}" = "$2" ] || usage_error "$1 needs a value (see --help)"
        case "$1" in
          --bundle) bundle=$(realpath -m "$2") ;;
          --work) work=$(realpath -m "$2") ;;
          --out) out=$(realpath -m "$2") ;;
          --arch) arch=$2 ;;
        esac
        shift 2 ;;
      -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
      configure|build|gtest|train|bench|compare)
        [ -z "$stage" ] || usage_error "one stage at a time, got '$stage' and '$1'"
        stage=$1; shift ;;
      -*) usage_error "unknown argument '$1' (see --help)" ;;
      *)
        [ "$stage" = compare ] && [ -z "$compare_dir" ] || usage_error "unknown stage '$1' (see --help)"
        compare_dir=$1; shift ;;
    esac
  done
  [ -n "$stage" ] || usage_error "which stage: configure, build, gtest, train, bench or compare OUTDIR? (see --help)"
  [ "$stage" != compare ] || [ -n "$compare_dir" ] || usage_error "compare needs the folder the train stage wrote"
  out=${out:-$work/out}
  arch=${arch:-${CAFFESIAM_CUDA_ARCH:-$(host_gpu_arch)}}
  [ -z "$arch" ] || [[ $arch =~ ^[0-9]+( [0-9]+)*$ ]] || usage_error "--arch must be like \"80 90\", got '$arch'"
}

main() {
  parse_args "$@"
  export CAFFESIAM_CACHE=$work/cache
  if [ -n "$arch" ]; then export CAFFESIAM_CUDA_ARCH=$arch; fi
  mkdir -p "$work" "$out"
  case "$stage" in
    configure) stage_configure ;;
    build) stage_build ;;
    gtest) stage_gtest ;;
    train) stage_train ;;
    bench) stage_bench ;;
    compare) stage_compare "$compare_dir" ;;
  esac
}

# Sourcing the script (the tests do) defines its functions without running it.
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  main "$@"
fi
