#!/usr/bin/env bash
# make gpu-build-check: compiles and links the GPU variant of Caffe on a machine without a GPU,
# then checks what it built. Not part of `make test`: a fresh build takes tens of minutes.
#
#   scripts/gpu_build_check.sh [--cuda 12|13]      (default 12; make gpu-build-check CUDA=13)
#
# 1. CAFFESIAM_CUDA=N VENV=DIR scripts/setup.sh --gpu (install_caffe.sh --gpu --venv DIR, then
#    caffesiam): the GPU image's RUN steps (docker/Dockerfile), with the CUDA N toolkit fetched (any
#    toolkit on the machine is passed over), timed. The build lands in the Caffe cache under a key
#    of its own and is reused next time.
# 2. libcaffe, the caffe binary and pycaffe's _caffe.so find every CUDA library (cudart, cuBLAS,
#    cuRAND, cuDNN, NCCL) through their rpath, with LD_LIBRARY_PATH unset.
# 3. `caffe --version` runs, pycaffe imports and caffesiam runs (no GPU to run kernels on).
# 4. cuobjdump lists SASS (ELF) for every architecture asked for and PTX for the newest.
# What it cannot show: that the kernels run. scripts/offline_gpu_check.sh does that on a GPU.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cuda=12
while [ $# -gt 0 ]; do
  case "$1" in
    --cuda) [ $# -ge 2 ] && [[ $2 =~ ^1[23]$ ]] || { echo "gpu_build_check: --cuda needs 12 or 13" >&2; exit 2; }
            cuda=$2; shift 2 ;;
    -h|--help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "gpu_build_check: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done

# The install script's own functions (toolkit resolution, wheel installs), without running it.
# shellcheck source=install_caffe.sh
. "$repo/scripts/install_caffe.sh"
parse_args --gpu
prog=gpu_build_check
venv=$(mktemp -d "${TMPDIR:-/tmp}/caffesiam-gpu-check.XXXXXX")
trap 'rm -rf "$venv"' EXIT

start=$(date +%s)
CAFFESIAM_CUDA=$cuda VENV=$venv nice -n 10 bash "$repo/scripts/setup.sh" --gpu
took=$(( $(date +%s) - start ))
prefix=$(readlink "$venv/caffe")
say "setup.sh --gpu (CUDA $cuda) took $took s; prefix $prefix"

failures=0
fail() { echo "gpu_build_check: FAILED: $*" >&2; failures=$((failures + 1)); }

# 2. Libraries through the rpath alone.
lib=$(ls "$prefix"/lib/libcaffe.so.*.* | head -n1)
pycaffe=$prefix/python/caffe/_caffe.so
for object in "$lib" "$prefix/bin/caffe" "$pycaffe"; do
  deps=$(env -u LD_LIBRARY_PATH ldd "$object")
  if grep -q 'not found' <<<"$deps"; then fail "$(basename "$object"): $(grep 'not found' <<<"$deps" | tr -s ' \t' ' ')"; fi
done
deps=$(env -u LD_LIBRARY_PATH ldd "$lib")
for cuda_lib in cudart cublas curand cudnn nccl; do
  line=$(grep -m1 "lib$cuda_lib\.so" <<<"$deps" || true)
  if [ -z "$line" ]; then fail "libcaffe does not link lib$cuda_lib"; else echo "  $(tr -s ' \t' ' ' <<<"$line")"; fi
done

# 3. It runs (CPU side only).
env -u LD_LIBRARY_PATH "$prefix/bin/caffe" --version || fail "caffe --version"
env -u LD_LIBRARY_PATH "$venv/bin/python" -c 'import caffe; caffe.set_mode_cpu(); print("pycaffe imports:", caffe.__file__)' \
  || fail "import caffe"
env -u LD_LIBRARY_PATH "$venv/bin/caffesiam" --version || fail "caffesiam --version"

# 4. Device code, read by the cuobjdump of the toolkit in libcaffe's rpath, else (CUDA 13.0 ships
# none) PyPI's.
view=""
for dir in $(readelf -d "$lib" | sed -n 's/.*R[UN]*PATH.*\[\(.*\)\]/\1/p' | tr ':' ' '); do
  if [ -x "$dir/../bin/nvcc" ]; then view=$(cd "$dir/.." && pwd); fi
done
[ -n "$view" ] || fail "no CUDA toolkit in the rpath of $(basename "$lib")"
cuobjdump=$view/bin/cuobjdump
if [ ! -x "$cuobjdump" ]; then cuobjdump=$(bash "$repo/scripts/cuobjdump.sh"); fi
sass=$("$cuobjdump" --list-elf "$lib" | grep -o 'sm_[0-9]*' | sort -u | tr '\n' ' ')
ptx=$("$cuobjdump" --list-ptx "$lib" | grep -o 'sm_[0-9]*' | sort -u | tr '\n' ' ')
kernels=$("$cuobjdump" --list-elf "$lib" | wc -l)
echo "  cuobjdump $(basename "$lib"): SASS ${sass}($kernels cubins), PTX ${ptx}"
arch=${CAFFESIAM_CUDA_ARCH:-$cuda_arch_default}
for a in $arch; do
  [[ " $sass" == *" sm_$a "* ]] || fail "no SASS for sm_$a in $(basename "$lib")"
done
[[ " $ptx" == *" sm_${arch##* } "* ]] || fail "no PTX for sm_${arch##* } in $(basename "$lib")"

if [ "$failures" != 0 ]; then exit 1; fi
say "gpu-build-check passed: CUDA $cuda build in $prefix ($took s), SASS ${sass}PTX ${ptx}"
