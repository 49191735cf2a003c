#!/usr/bin/env bash
# Installs a real BVLC Caffe 1.0 (CPU build by default) and links it into a venv.
#
#   scripts/install_caffe.sh [--venv DIR] [--python PY] [--gpu] [--no-python] [--skip-system-packages]
#
# Steps: Debian packages -> venv with pycaffe's needs -> pinned source (sha256)
# -> patched CMake build in a temporary directory -> atomic move into the cache
# ($CAFFESIAM_CACHE, default ~/.cache/caffesiam/caffe-<hash>) -> links in the venv.
# A cached build whose hash matches is reused. A failed step is named and the
# tail of its log printed; nothing half-built is ever left at the cache path.
# --no-python builds the caffe binary alone (no pycaffe, no venv), as docker/Dockerfile.gpu does.
#
# Environment:
#   CAFFESIAM_CACHE          cache directory (default ~/.cache/caffesiam)
#   CAFFESIAM_CAFFE_SOURCE   build this source tarball instead of the pinned one
#                            (forks and the script's own failure tests)
#   CAFFESIAM_JOBS           parallel compile jobs (default: nproc)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
venv=""
python=/usr/bin/python3
gpu=0
with_python=1
skip_system=0

while [ $# -gt 0 ]; do
  case "$1" in
    --venv) venv=$2; shift 2 ;;
    --python) python=$2; shift 2 ;;
    --gpu) gpu=1; shift ;;
    --no-python) with_python=0; shift ;;
    --skip-system-packages) skip_system=1; shift ;;
    -h|--help) sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "install_caffe: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done

# Absolute paths: the build runs in other directories.
[ -n "$venv" ] && venv=$(realpath -m "$venv")
python=$(command -v "$python")
cache=${CAFFESIAM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/caffesiam}
jobs=${CAFFESIAM_JOBS:-$(nproc)}
logs=$cache/logs
mkdir -p "$cache/downloads" "$logs"

# --- pins ------------------------------------------------------------------
debian_version=1.0.0+git20180821.99bd997-8
debian_orig=caffe_1.0.0+git20180821.99bd997.orig.tar.gz
debian_sha256=e0eb3f06794f7402c77b7dec8e8480273ee1a1bb192e9122b621a69d4147ad0c
pypi_sdist=brocolli-caffe-9.0.2.tar.gz
pypi_sha256=c6410cc60bdd6db685d441b66be7df05410f8850ac88d6b75d48ef9b2315c08a
pycaffe_requirements=("numpy>=1.24,<2" "scikit-image>=0.21,<0.25" "protobuf>=4.21,<6" "six")

system_packages=(cmake build-essential pkg-config dpkg-dev patch protobuf-compiler libprotobuf-dev libprotoc-dev
  libboost-filesystem-dev libboost-system-dev libboost-thread-dev libboost-python-dev
  libgflags-dev libgoogle-glog-dev libhdf5-dev libleveldb-dev liblmdb-dev libsnappy-dev
  libopenblas-dev graphviz python3-dev python3-venv curl ca-certificates)
# Installed where the distribution has them (Debian does; CUDA's Ubuntu images do not).
optional_packages=(dataset-fashion-mnist)

# --- helpers ---------------------------------------------------------------
say() { echo "==> $*"; }

# Runs one named step with its output in a log; on failure names the step and shows the log's tail.
step() {
  local name=$1; shift
  local log="$logs/$(echo "$name" | tr -c 'a-zA-Z0-9\n' '-').log"
  say "$name"
  if ! "$@" >"$log" 2>&1; then
    echo "install_caffe: step '$name' failed. Last lines of $log:" >&2
    tail -n 40 "$log" | sed 's/^/    /' >&2
    exit 1
  fi
}

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

is_installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }

missing_system_packages() {
  local p
  for p in "${system_packages[@]}"; do is_installed "$p" || echo "$p"; done
  for p in "${optional_packages[@]}"; do
    is_installed "$p" || ! apt-cache show "$p" >/dev/null 2>&1 || echo "$p"
  done
}

install_system_packages() {
  as_root apt-get update -q
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -q --no-install-recommends "$@"
}

sha256_of() { sha256sum "$1" | cut -d' ' -f1; }

# Debian's source package from bullseye's deb-src, with a private sources list and lists dir.
fetch_debian_source() {
  local tmp; tmp=$(mktemp -d)
  mkdir -p "$tmp/lists/partial"
  # Signed by Debian's key where the keyring exists; elsewhere (Ubuntu) the sha256 pin is the check.
  local trust="[trusted=yes]"
  [ -f /usr/share/keyrings/debian-archive-keyring.gpg ] && trust="[signed-by=/usr/share/keyrings/debian-archive-keyring.gpg]"
  echo "deb-src $trust http://deb.debian.org/debian bullseye main" >"$tmp/sources.list"
  local opts=(-o "Dir::Etc::SourceList=$tmp/sources.list" -o Dir::Etc::SourceParts=/dev/null
              -o "Dir::State::Lists=$tmp/lists" -o "Dir::Cache=$tmp/cache" -o Debug::NoLocking=1)
  apt-get "${opts[@]}" update
  (cd "$tmp" && apt-get "${opts[@]}" source --download-only "caffe=$debian_version")
  mv "$tmp/$debian_orig" "$cache/downloads/$debian_orig.part"
  rm -rf "$tmp"
  [ "$(sha256_of "$cache/downloads/$debian_orig.part")" = "$debian_sha256" ] || {
    echo "sha256 mismatch for $debian_orig"; rm -f "$cache/downloads/$debian_orig.part"; return 1; }
  mv "$cache/downloads/$debian_orig.part" "$cache/downloads/$debian_orig"
}

# Fallback: the PyPI sdist (its setup.py needs conda, so fetch the file through PyPI's simple index).
fetch_pypi_source() {
  local url
  url=$(curl -fsSL https://pypi.org/simple/brocolli-caffe/ | grep -o "https://[^\"#]*$pypi_sdist" | head -n1)
  [ -n "$url" ] || { echo "no $pypi_sdist on PyPI's index"; return 1; }
  curl -fsSL -o "$cache/downloads/$pypi_sdist.part" "$url"
  [ "$(sha256_of "$cache/downloads/$pypi_sdist.part")" = "$pypi_sha256" ] || {
    echo "sha256 mismatch for $pypi_sdist"; rm -f "$cache/downloads/$pypi_sdist.part"; return 1; }
  mv "$cache/downloads/$pypi_sdist.part" "$cache/downloads/$pypi_sdist"
}

have_verified() { [ -f "$cache/downloads/$1" ] && [ "$(sha256_of "$cache/downloads/$1")" = "$2" ]; }

# Prints the path of a verified source tarball, downloading it when needed.
resolve_source() {
  if [ -n "${CAFFESIAM_CAFFE_SOURCE:-}" ]; then echo "$CAFFESIAM_CAFFE_SOURCE"; return; fi
  if have_verified "$debian_orig" "$debian_sha256"; then echo "$cache/downloads/$debian_orig"; return; fi
  if have_verified "$pypi_sdist" "$pypi_sha256"; then echo "$cache/downloads/$pypi_sdist"; return; fi
  if (fetch_debian_source >"$logs/fetch-debian-source.log" 2>&1); then
    echo "$cache/downloads/$debian_orig"; return
  fi
  echo "install_caffe: Debian source failed (see $logs/fetch-debian-source.log); trying PyPI" >&2
  step "fetch source (PyPI fallback)" fetch_pypi_source >&2
  echo "$cache/downloads/$pypi_sdist"
}

venv_is_healthy() {
  [ -x "$venv/bin/python" ] && "$venv/bin/python" -c 'import sys, venv; assert sys.version_info >= (3, 11)' 2>/dev/null
}

ensure_venv() {
  if ! venv_is_healthy; then
    rm -rf "$venv"
    "$python" -m venv "$venv"
  fi
  local stamp="$venv/.pycaffe-requirements"
  if [ "$(cat "$stamp" 2>/dev/null)" != "${pycaffe_requirements[*]}" ] \
      || ! "$venv/bin/python" -c 'import numpy, skimage, google.protobuf, six' 2>/dev/null; then
    "$venv/bin/python" -m pip install -q --upgrade pip wheel
    "$venv/bin/python" -m pip install -q "${pycaffe_requirements[@]}"
    echo "${pycaffe_requirements[*]}" >"$stamp"
  fi
}

cmake_flags() {
  local py=$1 prefix=$2
  local device=-DCPU_ONLY=ON
  # BVLC Caffe 1.0 knows cuDNN 5-7 only and lists pre-Pascal architectures CUDA 11 dropped.
  [ "$gpu" = 1 ] && device="-DCPU_ONLY=OFF -DUSE_CUDNN=${CAFFESIAM_CUDNN:-ON} -DCUDA_ARCH_NAME=Manual \
    -DCUDA_ARCH_BIN=${CAFFESIAM_CUDA_ARCH:-60,61,70,75} -DCUDA_ARCH_PTX=75"
  local pyflags="-DBUILD_python=ON -Dpython_version=3 -DBUILD_python_layer=ON" pyexe="-DPYTHON_EXECUTABLE=$py"
  [ "$with_python" = 0 ] && pyflags="-DBUILD_python=OFF -DBUILD_python_layer=OFF" && pyexe=""
  echo -DCMAKE_BUILD_TYPE=Release $device -DBLAS=Open -DUSE_OPENCV=OFF -DUSE_LEVELDB=ON -DUSE_LMDB=ON \
    $pyflags -DBUILD_docs=OFF -DBUILD_matlab=OFF $pyexe -DCMAKE_INSTALL_PREFIX="$prefix"
}

# Build key: source, patches, build settings, the Python ABI the extension is built for, and the
# layout of the prefix (bump install_layout when what lands in the prefix changes).
install_layout=2
build_key() {
  local src=$1 py=$2
  {
    echo "layout $install_layout"
    sha256_of "$src"
    cat "$here"/patches/*.patch
    cmake_flags "$py" PREFIX | sed 's/-DPYTHON_EXECUTABLE=[^ ]*//'
    [ "$with_python" = 0 ] || "$py" -c 'import sys, numpy; print(sys.version_info[:2], numpy.__version__.split(".")[0])'
  } | sha256sum | cut -c1-16
}

prefix_is_complete() {
  [ -f "$1/.complete" ] && "$1/bin/caffe" --version >/dev/null 2>&1
}

build_caffe() {
  local src=$1 py=$2 prefix=$3
  local stage; stage=$(mktemp -d "$cache/build.XXXXXX")
  trap 'rm -rf "$stage"' EXIT INT TERM
  mkdir -p "$stage/src" "$stage/build"
  tar -xzf "$src" -C "$stage/src"
  local root="$stage/src"
  # The Debian orig tarball has no top folder; the PyPI sdist has one.
  [ -f "$root/CMakeLists.txt" ] || root=$(dirname "$(ls -d "$stage"/src/*/CMakeLists.txt | head -n1)")
  # Protobuf before 3.6 has only the two-argument SetTotalBytesLimit the source already calls.
  if grep -q "SetTotalBytesLimit(int total_bytes_limit)" /usr/include/google/protobuf/io/coded_stream.h 2>/dev/null \
      || ! grep -q "SetTotalBytesLimit(int total_bytes_limit, int warning_threshold)" \
           /usr/include/google/protobuf/io/coded_stream.h 2>/dev/null; then
    step "patch protobuf-3.21-SetTotalBytesLimit.patch" \
      patch -d "$root" -p1 -N -i "$here/patches/protobuf-3.21-SetTotalBytesLimit.patch"
  fi
  # shellcheck disable=SC2046
  step "cmake configure" configure "$root" "$stage/build" $(cmake_flags "$py" "$prefix")
  step "compile (make -j$jobs, a few minutes)" make -C "$stage/build" -j"$jobs"
  step "install into staging" make -C "$stage/build" install DESTDIR="$stage/dest"
  local out="$stage/dest$prefix"
  step "copy examples and models" copy_source_subset "$root" "$out/src"
  step "generate standalone caffe_pb2" generate_caffe_pb2 "$root" "$out/proto"
  touch "$out/.complete"
  rm -rf "$prefix"
  mv "$out" "$prefix"
  rm -rf "$stage"
  trap - EXIT INT TERM
}

# `cmake -S/-B` needs CMake 3.13; Ubuntu 18.04 (the CUDA 10.2 image) has 3.10.
configure() { local src=$1 build=$2; shift 2; (cd "$build" && cmake "$src" "$@"); }

copy_source_subset() {
  local root=$1 dest=$2 d
  mkdir -p "$dest/src/caffe/proto"
  for d in examples models python tools; do
    [ -d "$root/$d" ] && cp -r "$root/$d" "$dest/"
  done
  cp "$root/src/caffe/proto/caffe.proto" "$dest/src/caffe/proto/"
}

# caffe_pb2 on its own: importing it through pycaffe costs ~0.5 s, this way ~0.07 s.
generate_caffe_pb2() {
  local root=$1 dest=$2
  mkdir -p "$dest"
  protoc --proto_path="$root/src/caffe/proto" --python_out="$dest" "$root/src/caffe/proto/caffe.proto"
}

link_into_venv() {
  local prefix=$1
  local site; site=$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
  echo "$prefix/python" >"$site/caffesiam-pycaffe.pth"
  local b
  for b in caffe convert_mnist_siamese_data; do
    [ -x "$prefix/bin/$b" ] && ln -sfn "$prefix/bin/$b" "$venv/bin/$b"
  done
  ln -sfn "$prefix" "$venv/caffe"
  "$venv/bin/python" -c 'import caffe' || { echo "pycaffe does not import in $venv"; return 1; }
  # The layer registry, so spec checks need not import pycaffe (0.5 s) on every gen-net.
  if [ ! -s "$prefix/layer_types.txt" ]; then
    "$venv/bin/python" -c 'import caffe; print("\n".join(caffe.layer_type_list()))' >"$prefix/layer_types.txt.part"
    mv "$prefix/layer_types.txt.part" "$prefix/layer_types.txt"
  fi
}

# --- main --------------------------------------------------------------------
if [ "$skip_system" = 0 ]; then
  missing=$(missing_system_packages | tr '\n' ' ')
  if [ -n "$missing" ]; then
    step "system packages ($missing)" install_system_packages $missing
  else
    say "system packages: all present"
  fi
fi

py=$python
[ "$with_python" = 0 ] && venv=""
if [ -n "$venv" ]; then
  step "python venv $venv with pycaffe's requirements" ensure_venv
  py=$venv/bin/python
fi

say "source"
src=$(resolve_source)
key=$(build_key "$src" "$py")
prefix="$cache/caffe-$key"

if prefix_is_complete "$prefix"; then
  say "caffe build cached at $prefix"
else
  start=$(date +%s)
  build_caffe "$src" "$py" "$prefix"
  say "built caffe in $(( $(date +%s) - start )) s into $prefix"
fi

if [ -n "$venv" ]; then
  step "link caffe into $venv" link_into_venv "$prefix"
fi
say "caffe ready: $prefix/bin/caffe"
