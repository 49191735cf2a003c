#!/usr/bin/env bash
# Installs a real BVLC Caffe 1.0 (CPU build by default) and links it into a venv.
#
#   scripts/install_caffe.sh [--venv DIR] [--python PY] [--gpu [--no-cudnn]] [--stock] [--no-python]
#                            [--proto-only] [--skip-system-packages]
#
# Steps: Debian packages -> venv with numpy -> pinned source (sha256) -> patched CMake build in a
# temporary directory (pycaffe's other Python packages install alongside) -> atomic move into the cache
# ($CAFFESIAM_CACHE, default ~/.cache/caffesiam/caffe-<hash>) -> links in the venv.
# A cached build whose hash matches is reused; setups running at once take turns (flock).
# Every option and environment value below is checked before the first step (exit 2, one line).
# A failed step is named with the command that failed, and the tail of its log printed;
# nothing half-built is ever left at the cache path.
# Downloads go through the machine's own apt and pip setup (mirrors, proxies), with retries.
# --no-python builds the caffe binary alone (no pycaffe, no venv).
# --proto-only builds nothing: caffe_pb2 (protoc on the pinned source's caffe.proto) and the layer
# registry read from the source, for a host that trains only in Docker (make setup-docker).
# Patches (scripts/patches/): compat/ to build with today's toolchains and targets/ to compile only
# caffe, libcaffe and pycaffe (scripts/caffe_tool.sh builds Caffe's other programs on demand), on
# every build; gpu/ on --gpu builds; speed/ the project's own CPU speed-ups, left out by --stock (or
# CAFFESIAM_CAFFE_PATCHES=stock), which builds stock Caffe under a cache key of its own.
# --gpu: a CUDA build (SASS for sm_75/80/86/89/90, PTX for later cards) with cuDNN (--no-cudnn:
# Caffe's own engine) and NCCL, against the toolkit scripts/cuda_toolkit.sh finds or fetches.
#
# Environment:
#   CAFFESIAM_CACHE          cache directory (default ~/.cache/caffesiam)
#   CAFFESIAM_CAFFE_SOURCE   build this source tarball instead of the pinned one
#                            (forks and the script's own failure tests)
#   CAFFESIAM_JOBS           parallel compile jobs (default: nproc)
#   CAFFESIAM_CUDA_ARCH      --gpu: SASS architectures, e.g. "80" (default "75 80 86 89 90")
#   CUDA_HOME, CAFFESIAM_CUDA, CUDNN_ROOT, NCCL_ROOT   --gpu: see scripts/cuda_toolkit.sh
set -euo pipefail

prog=install_caffe
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=steps.sh
. "$here/steps.sh"
# shellcheck source=cuda_toolkit.sh
. "$here/cuda_toolkit.sh"

# --- pins ------------------------------------------------------------------
debian_version=1.0.0+git20180821.99bd997-8
debian_suite=bullseye
debian_orig=caffe_1.0.0+git20180821.99bd997.orig.tar.gz
debian_sha256=e0eb3f06794f7402c77b7dec8e8480273ee1a1bb192e9122b621a69d4147ad0c
debian_keyring=/usr/share/keyrings/debian-archive-keyring.gpg
pypi_requirement=brocolli-caffe==9.0.2
pypi_sdist=brocolli-caffe-9.0.2.tar.gz
pypi_sha256=c6410cc60bdd6db685d441b66be7df05410f8850ac88d6b75d48ef9b2315c08a
# Python 3.12 and later have no numpy 1.x wheels: there pycaffe is built against numpy 2.
# numpy is what the build reads (its headers, and its major version in the build key); the rest
# is what `import caffe` needs, installed alongside the compile.
pycaffe_build_requirements=("numpy>=1.24,<2; python_version < '3.12'" "numpy>=2.1,<3; python_version >= '3.12'")
pycaffe_import_requirements=("scikit-image>=0.21,<0.25; python_version < '3.12'"
  "scikit-image>=0.25,<0.27; python_version >= '3.12'" "protobuf>=4.21,<6" "six")

system_packages=(cmake build-essential pkg-config dpkg-dev patch protobuf-compiler libprotobuf-dev libprotoc-dev
  libboost-filesystem-dev libboost-system-dev libboost-thread-dev libboost-python-dev
  libgflags-dev libgoogle-glog-dev libhdf5-dev libleveldb-dev liblmdb-dev libsnappy-dev
  libopenblas-dev graphviz python3-dev python3-venv ca-certificates)
# --proto-only: protoc, and what caffesiam itself needs (plyvel is compiled against LevelDB; draw).
proto_system_packages=(protobuf-compiler build-essential pkg-config dpkg-dev python3-dev python3-venv
  libleveldb-dev graphviz ca-certificates)
# Data the tests and benchmarks read. Required on Debian; elsewhere (Ubuntu lacks it) a warning.
data_packages=(dataset-fashion-mnist)
data_packages_serve="Fashion-MNIST (build-db fashion-mnist, the tests and the benchmarks)"

# --- arguments ---------------------------------------------------------------
usage_error() { echo "install_caffe: $*" >&2; exit 2; }

parse_args() {
  venv="" python=/usr/bin/python3 gpu=0 no_cudnn=0 with_python=1 skip_system=0 stock=0 proto_only=0
  case "${CAFFESIAM_CAFFE_PATCHES:-}" in
    ""|all) ;;
    stock) stock=1 ;;
    *) usage_error "CAFFESIAM_CAFFE_PATCHES must be 'stock' or 'all', got '$CAFFESIAM_CAFFE_PATCHES'" ;;
  esac
  while [ $# -gt 0 ]; do
    case "$1" in
      --venv|--python)
        [ $# -ge 2 ] && [ -n "$2" ] && [ "${2#--}" = "$2" ] || usage_error "$1 needs a value (see --help)"
        if [ "$1" = --venv ]; then venv=$2; else python=$2; fi
        shift 2 ;;
      --gpu) gpu=1; shift ;;
      --no-cudnn) no_cudnn=1; shift ;;
      --stock) stock=1; shift ;;
      --no-python) with_python=0; shift ;;
      --skip-system-packages) skip_system=1; shift ;;
      --proto-only) proto_only=1; shift ;;
      -h|--help) sed -n '2,30p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
      *) usage_error "unknown argument '$1' (see --help)" ;;
    esac
  done
  # Absolute paths: the build runs in other directories.
  [ -n "$venv" ] && venv=$(realpath -m "$venv")
  local found
  found=$(command -v "$python") || usage_error "--python: no interpreter '$python' found"
  python=$found
  [ "$with_python" = 0 ] && venv=""
  check_python_version "$python"
  [ "$no_cudnn" = 0 ] || [ "$gpu" = 1 ] || usage_error "--no-cudnn needs --gpu"
  if [ "$proto_only" = 1 ]; then
    [ "$gpu" = 0 ] && [ "$stock" = 0 ] && [ "$with_python" = 1 ] \
      || usage_error "--proto-only builds nothing, so --gpu, --stock and --no-python do not apply"
    system_packages=("${proto_system_packages[@]}")
  fi
  if uses_onednn; then system_packages+=(libdnnl-dev); fi
  cache=${CAFFESIAM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/caffesiam}
  jobs=${CAFFESIAM_JOBS:-$(nproc)}
  logs=$cache/logs
  check_settings
  mkdir -p "$cache/downloads" "$logs"
}

# Refuses what is not a Python interpreter, and (with pycaffe) one outside pyproject.toml's
# requires-python (">=3.11,<3.14"), before pip would fail on it with a build of numpy from source.
check_python_version() {
  local py=$1 requires found
  found=$("$py" -c 'import sys; print("%d %d" % sys.version_info[:2])' 2>/dev/null) || true
  [[ $found =~ ^[0-9]+\ [0-9]+$ ]] || usage_error "--python: $py is not a Python interpreter"
  [ "${with_python:-1}" = 1 ] || return 0  # no pycaffe: any Python runs pip for the downloads
  requires=$(sed -n 's/^requires-python *= *"\(.*\)"/\1/p' "$here/../pyproject.toml" 2>/dev/null) || true
  [[ $requires =~ \>=([0-9]+)\.([0-9]+),\<([0-9]+)\.([0-9]+) ]] || return 0
  local low=$((BASH_REMATCH[1] * 100 + BASH_REMATCH[2])) high=$((BASH_REMATCH[3] * 100 + BASH_REMATCH[4]))
  local span="${BASH_REMATCH[1]}.${BASH_REMATCH[2]} to ${BASH_REMATCH[3]}.$((BASH_REMATCH[4] - 1))"
  set -- $found
  local have=$(($1 * 100 + $2))
  if [ "$have" -lt "$low" ]; then
    usage_error "$py is Python $1.$2, older than the supported $span; choose another with --python"
  elif [ "$have" -ge "$high" ]; then
    usage_error "$py is Python $1.$2, newer than the supported $span (numpy, scikit-image and pycaffe are not known to install on it); choose another with --python"
  fi
}

# Every option and environment value the steps will read, checked before the first step makes
# anything (a venv, the cache, an apt call).
check_settings() {
  local source=${CAFFESIAM_CAFFE_SOURCE:-}
  if [ -n "$source" ]; then
    [ ! -d "$source" ] || usage_error "CAFFESIAM_CAFFE_SOURCE: $source is a directory, not a source tarball"
    [ -f "$source" ] || usage_error "CAFFESIAM_CAFFE_SOURCE: no file $source"
    [ -r "$source" ] || usage_error "CAFFESIAM_CAFFE_SOURCE: cannot read $source"
  fi
  [[ $jobs =~ ^[1-9][0-9]{0,3}$ ]] \
    || usage_error "CAFFESIAM_JOBS must be a number of compile jobs from 1 to 9999, got '$jobs'"
  [ ! -e "$cache" ] || [ -d "$cache" ] \
    || usage_error "cache $cache exists and is not a directory (set CAFFESIAM_CACHE to a folder)"
  if [ -n "$venv" ]; then
    [ ! -e "$venv" ] || [ -d "$venv" ] || usage_error "--venv: $venv exists and is not a directory"
    if [ -d "$venv" ] && [ ! -f "$venv/pyvenv.cfg" ] && [ -n "$(ls -A "$venv")" ]; then
      usage_error "--venv: $venv holds files and is not a virtualenv (no pyvenv.cfg); give a new or empty folder, or a venv"
    fi
  fi
  [ "$gpu" = 0 ] || check_cuda_settings
}

# --- system packages ---------------------------------------------------------
as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"
  elif command -v sudo >/dev/null; then sudo "$@"
  else echo "need root for '$*', and sudo is not installed"; return 1
  fi
}

# (No `| grep -q` under pipefail: grep quits at its match and the writer dies of SIGPIPE.)
is_installed() { [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" = "install ok installed" ]; }

not_installed() { local p; for p in "$@"; do is_installed "$p" || echo "$p"; done; }

# Whether apt's package lists offer a package (so only meaningful after apt-get update).
apt_offers() { [[ $(apt-cache policy "$1" 2>/dev/null) =~ Candidate:\ [^\(] ]]; }

is_debian() { (. /etc/os-release 2>/dev/null && [ "${ID:-}" = debian ]); }

# Waits for the dpkg lock (unattended-upgrades, another setup) instead of failing at once.
apt_lock=(-o DPkg::Lock::Timeout=600)
apt_install() { as_root env DEBIAN_FRONTEND=noninteractive apt-get "${apt_lock[@]}" install -y -q --no-install-recommends "$@"; }

# Fails (in its step, with apt's view in the log) when packages Debian should offer are not there.
require_offered() {
  local p missing=()
  for p in "$@"; do
    apt-cache policy "$p"
    apt_offers "$p" || missing+=("$p")
  done
  [ ${#missing[@]} = 0 ] || { echo "not offered by apt after apt-get update: ${missing[*]}"; return 1; }
}

install_system_packages() {
  local missing=() data=() p
  mapfile -t missing < <(not_installed "${system_packages[@]}")
  mapfile -t data < <(not_installed "${data_packages[@]}")
  if [ ${#missing[@]} = 0 ] && [ ${#data[@]} = 0 ]; then
    say "system packages: all present"
    return
  fi
  # Only fresh package lists can say whether a package exists (a new machine has none).
  step "apt-get update" retry as_root apt-get "${apt_lock[@]}" update -q
  if is_debian; then
    if [ ${#data[@]} != 0 ]; then step "check that apt offers ${data[*]}" require_offered "${data[@]}"; fi
    missing+=("${data[@]}")
  else
    for p in "${data[@]}"; do
      if apt_offers "$p"; then
        missing+=("$p")
      else
        echo "install_caffe: WARNING: apt offers no '$p' here, so $data_packages_serve will not work" >&2
      fi
    done
  fi
  if [ ${#missing[@]} != 0 ]; then
    step "system packages: install ${#missing[@]} (${missing[*]})" retry apt_install "${missing[@]}"
  fi
}

# --- source ------------------------------------------------------------------
sha256_of() { sha256sum "$1" | cut -d' ' -f1; }

have_verified() { [ -f "$cache/downloads/$1" ] && [ "$(sha256_of "$cache/downloads/$1")" = "$2" ]; }

# Moves a downloaded file into the cache if its sha256 is the pinned one.
keep_verified() {
  local file=$1 name=$2 sha=$3
  if [ "$(sha256_of "$file")" != "$sha" ]; then
    echo "sha256 mismatch for $name: got $(sha256_of "$file"), pinned $sha"
    return 1
  fi
  mv "$file" "$cache/downloads/$name"
}

# The Debian archive the system's apt already uses (its mirror or proxy), else deb.debian.org.
debian_mirror() {
  local uri
  uri=$(apt-get indextargets --format '$(ORIGIN)|$(LABEL)|$(REPO_URI)' 2>/dev/null \
        | awk -F'|' '$1 == "Debian" && $2 == "Debian" { print $3; exit }') || true
  if [ -z "$uri" ]; then
    uri=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources 2>/dev/null \
          | grep -v '^[[:space:]]*#' | grep -oE '(https?|file)://[^ ]*/debian/?( |$)' | head -n1 | tr -d ' ') || true
  fi
  echo "${uri:-https://deb.debian.org/debian}"
}

# Debian's source package, through a private sources list and lists dir (the system's apt
# configuration, proxies included, still applies; its own sources are untouched).
fetch_debian_source() {
  local tmp mirror
  tmp=$(mktemp -d)
  mirror=$(debian_mirror)
  mkdir -p "$tmp/lists/partial"
  echo "deb-src [signed-by=$debian_keyring] $mirror $debian_suite main" >"$tmp/sources.list"
  cat "$tmp/sources.list"
  local opts=(-o "Dir::Etc::SourceList=$tmp/sources.list" -o Dir::Etc::SourceParts=/dev/null
              -o "Dir::State::Lists=$tmp/lists" -o "Dir::Cache=$tmp/cache" -o Debug::NoLocking=1)
  retry apt-get "${opts[@]}" update
  (cd "$tmp" && retry apt-get "${opts[@]}" source --download-only "caffe=$debian_version")
  keep_verified "$tmp/$debian_orig" "$debian_orig" "$debian_sha256"
  rm -rf "$tmp"
}

# The PyPI sdist through pip, so pip's configured index, mirror and proxy apply; pip checks the
# hash too. Its metadata step builds nothing of Caffe.
fetch_pypi_source() {
  local tmp pip_python=$python
  [ -n "$venv" ] && pip_python=$venv/bin/python
  tmp=$(mktemp -d)
  echo "$pypi_requirement --hash=sha256:$pypi_sha256" >"$tmp/requirements.txt"
  retry "$pip_python" -m pip download --no-deps --no-binary :all: --require-hashes \
    -r "$tmp/requirements.txt" -d "$tmp/out"
  keep_verified "$tmp/out/$pypi_sdist" "$pypi_sdist" "$pypi_sha256"
  rm -rf "$tmp"
}

# Sets $src: the path of a verified source tarball, downloaded when needed.
resolve_source() {
  if [ -n "${CAFFESIAM_CAFFE_SOURCE:-}" ]; then  # checked by check_settings
    src=$(realpath "$CAFFESIAM_CAFFE_SOURCE")
    return
  fi
  if have_verified "$debian_orig" "$debian_sha256"; then src=$cache/downloads/$debian_orig; return; fi
  if have_verified "$pypi_sdist" "$pypi_sha256"; then src=$cache/downloads/$pypi_sdist; return; fi
  if [ -f "$debian_keyring" ]; then
    soft_step "fetch source: Debian's caffe $debian_version ($debian_suite)" fetch_debian_source
    if [ "$status" = 0 ]; then
      src=$cache/downloads/$debian_orig
      return
    fi
    echo "install_caffe: Debian's source package could not be fetched; trying PyPI's $pypi_sdist" >&2
  else
    say "no Debian archive keyring ($debian_keyring) to check Debian's source with; using PyPI"
  fi
  step "fetch source: $pypi_sdist from PyPI (pip download)" fetch_pypi_source
  src=$cache/downloads/$pypi_sdist
}

# --- venv --------------------------------------------------------------------
venv_is_healthy() {
  [ -x "$venv/bin/python" ] && "$venv/bin/python" -c 'import sys, venv; assert sys.version_info >= (3, 11)' 2>/dev/null
}

ensure_venv() {
  if ! venv_is_healthy; then
    rm -rf "$venv"
    "$python" -m venv "$venv"
  fi
  [ "$proto_only" = 0 ] || return 0  # no pycaffe: caffesiam's own requirements come with it
  local stamp="$venv/.pycaffe-build-requirements"
  if [ "$(cat "$stamp" 2>/dev/null)" != "${pycaffe_build_requirements[*]}" ] \
      || ! "$venv/bin/python" -c 'import numpy' 2>/dev/null; then
    retry "$venv/bin/python" -m pip install --upgrade pip wheel
    retry "$venv/bin/python" -m pip install "${pycaffe_build_requirements[@]}"
    echo "${pycaffe_build_requirements[*]}" >"$stamp"
  fi
}

# A pip constraint that keeps the numpy the build was configured against.
numpy_constraint() {
  echo "numpy==$("$venv/bin/python" -c 'import numpy; print(numpy.__version__)')" >"$venv/.numpy-constraint"
  echo "$venv/.numpy-constraint"
}

install_pycaffe_imports() {
  local stamp="$venv/.pycaffe-import-requirements"
  if [ "$(cat "$stamp" 2>/dev/null)" != "${pycaffe_import_requirements[*]}" ] \
      || ! "$venv/bin/python" -c 'import skimage, google.protobuf, six' 2>/dev/null; then
    retry "$venv/bin/python" -m pip install -c "$(numpy_constraint)" "${pycaffe_import_requirements[@]}"
    echo "${pycaffe_import_requirements[*]}" >"$stamp"
  fi
}

# What goes into the venv alongside the compile: pycaffe's imports, then each function named in
# $alongside_build (make setup adds caffesiam's own install), one pip at a time.
alongside_build=()
venv_steps_alongside_build() {
  if [ "$proto_only" = 0 ]; then
    step "python packages that pycaffe imports (alongside the build)" install_pycaffe_imports
  fi
  local f
  for f in "${alongside_build[@]}"; do "$f"; done
}

# --- build -------------------------------------------------------------------
# CPU builds with the speed patches run their 2-D float convolutions through oneDNN (speed/06).
uses_onednn() { [ "${gpu:-0}" = 0 ] && [ "${stock:-0}" = 0 ] && [ "${proto_only:-0}" = 0 ]; }
onednn_header=/usr/include/oneapi/dnnl/dnnl_version.h

# One flag per line (paths may hold spaces; read them with mapfile).
cmake_flags() {
  local py=$1 prefix=$2
  printf '%s\n' -DCMAKE_BUILD_TYPE=Release -DBLAS=Open -DUSE_OPENCV=OFF -DUSE_LEVELDB=ON -DUSE_LMDB=ON
  if [ "$gpu" = 1 ]; then
    cuda_cmake_flags
  else
    # A unity build (8 sources per compile) parses Caffe's headers once per batch, not per file:
    # about half the compile's CPU time. CPU builds only; nvcc's builds stay as they were.
    printf '%s\n' -DCPU_ONLY=ON -DCMAKE_UNITY_BUILD=ON
    if uses_onednn; then printf '%s\n' -DUSE_DNNL=ON; fi
  fi
  # The speed patches split Caffe's CPU work over OpenMP threads.
  if [ "${stock:-0}" = 0 ]; then printf '%s\n' -DUSE_OPENMP=ON; fi
  if [ "$with_python" = 1 ]; then
    printf '%s\n' -DBUILD_python=ON -Dpython_version=3 -DBUILD_python_layer=ON "-DPYTHON_EXECUTABLE=$py"
  else
    printf '%s\n' -DBUILD_python=OFF -DBUILD_python_layer=OFF
  fi
  printf '%s\n' -DBUILD_docs=OFF -DBUILD_matlab=OFF "-DCMAKE_INSTALL_PREFIX=$prefix"
  # CMake 4 refuses Caffe's cmake_minimum_required(VERSION 2.8.7) without this.
  if [[ $(cmake --version 2>/dev/null) =~ version\ ([0-9]+) ]] && [ "${BASH_REMATCH[1]}" -ge 4 ]; then
    printf '%s\n' -DCMAKE_POLICY_VERSION_MINIMUM=3.5
  fi
}

# Build key: source, patches, build settings, the Python ABI the extension is built for, and the
# layout of the prefix (bump install_layout when what lands in the prefix changes).
install_layout=2
build_key() {
  local src=$1 py=$2
  {
    echo "layout $install_layout"
    sha256_of "$src"
    local patch
    while read -r patch; do cat "$patch"; done < <(selected_patches)
    cmake_flags "$py" PREFIX | grep -v '^-DPYTHON_EXECUTABLE=' | tr '\n' ' ' | sed 's/ $/\n/'
    [ "$with_python" = 0 ] || "$py" -c 'import sys, numpy; print(sys.version_info[:2], numpy.__version__.split(".")[0])'
    [ "$gpu" = 0 ] || cuda_identity "$cuda_view"
    ! uses_onednn || grep -h '^#define DNNL_VERSION_M' "$onednn_header" || true
  } | sha256sum | cut -c1-16
}

prefix_is_complete() {
  if [ "$proto_only" = 1 ]; then
    [ -f "$1/.complete" ] && [ -f "$1/.proto-only" ] && [ -s "$1/proto/caffe_pb2.py" ]
  else
    [ -f "$1/.complete" ] && "$1/bin/caffe" --version >/dev/null 2>&1
  fi
}

# The key of a proto-only prefix: the source and the protoc that generates caffe_pb2.
proto_key() {
  { echo "proto-only layout 1"; sha256_of "$1"; protoc --version; } | sha256sum | cut -c1-16
}

# The source tree in `stage/src`: the Debian orig tarball has no top folder, the PyPI sdist has one.
unpack_source() {
  local src=$1 dest=$2 found
  mkdir -p "$dest"
  tar -xzf "$src" -C "$dest"
  if [ -f "$dest/CMakeLists.txt" ]; then echo "$dest" >"$dest.root"; return; fi
  found=$(find "$dest" -mindepth 2 -maxdepth 2 -name CMakeLists.txt -print -quit)
  [ -n "$found" ] || { echo "no CMakeLists.txt at the top of $src or one folder down"; return 1; }
  dirname "$found" >"$dest.root"
}

# Protobuf before 3.6 has only the two-argument SetTotalBytesLimit the source already calls.
needs_protobuf_patch() {
  local header=/usr/include/google/protobuf/io/coded_stream.h
  grep -q "SetTotalBytesLimit(int total_bytes_limit)" "$header" 2>/dev/null \
    || ! grep -q "SetTotalBytesLimit(int total_bytes_limit, int warning_threshold)" "$header" 2>/dev/null
}

# The patches this build applies, in order (see the header).
selected_patches() {
  local sets=(compat targets) p
  if [ "$gpu" = 1 ]; then sets+=(gpu); fi
  if [ "${stock:-0}" = 0 ]; then sets+=(speed); fi
  for p in "${sets[@]/#/$here/patches/}"; do
    for p in "$p"/*.patch; do
      [ -f "$p" ] || continue
      if [ "$(basename "$p")" = protobuf-3.21-SetTotalBytesLimit.patch ] && ! needs_protobuf_patch; then continue; fi
      echo "$p"
    done
  done
}

# `cmake -S/-B` needs CMake 3.13; configure from the build directory instead.
configure() { local src=$1 build=$2; shift 2; (cd "$build" && cmake "$src" "$@"); }

# Makes PREFIX in a staging directory of the cache and moves it into place whole, so that nothing
# half-made is ever at its path: unpacks the source, runs FILL ROOT STAGE OUT (the unpacked tree,
# the staging directory, the prefix's place in it), then adds caffe.proto and caffe_pb2.
make_prefix() {
  local fill=$1 src=$2 prefix=$3 stage root out
  stage=$(mktemp -d "$cache/build-$key.XXXXXX")
  trap 'rm -rf "$stage"' EXIT
  trap 'rm -rf "$stage"; exit 130' INT TERM
  step "unpack $(basename "$src")" unpack_source "$src" "$stage/src"
  root=$(cat "$stage/src.root")
  out=$stage/dest$prefix
  "$fill" "$root" "$stage" "$out"
  mkdir -p "$out/src/src/caffe/proto"
  cp "$root/src/caffe/proto/caffe.proto" "$out/src/src/caffe/proto/"
  step "generate standalone caffe_pb2" generate_caffe_pb2 "$root" "$out/proto"
  touch "$out/.complete"
  rm -rf "$prefix"
  mv "$out" "$prefix"
  rm -rf "$stage"
  trap - EXIT INT TERM
}

# The patched CMake build of the source at ROOT, installed at OUT (through DESTDIR, so built for
# $prefix), with the source's examples, models, python and tools (the sources of its programs).
fill_caffe() {
  local root=$1 stage=$2 out=$3 patch flags=()
  while read -r patch; do
    step "patch $(basename "$patch")" patch -d "$root" -p1 -N -i "$patch"
  done < <(selected_patches)
  mapfile -t flags < <(cmake_flags "$py" "$prefix")
  mkdir -p "$stage/build"
  step "cmake configure" configure "$root" "$stage/build" "${flags[@]}"
  local expect="a minute or two"
  [ "$gpu" = 0 ] || expect="tens of minutes on two cores: nvcc compiles every kernel per architecture"
  step "compile (make -j$jobs, $expect)" make -C "$stage/build" -j"$jobs"
  step "install into staging" make -C "$stage/build" install DESTDIR="$stage/dest"
  step "copy examples and models" copy_source_subset "$root" "$out/src"
}

copy_source_subset() {
  local root=$1 dest=$2 d
  mkdir -p "$dest"
  for d in examples models python tools; do
    if [ -d "$root/$d" ]; then cp -r "$root/$d" "$dest/"; fi
  done
}

# No build (--proto-only): the layer registry read from the source.
fill_proto() {
  local root=$1 out=$3
  mkdir -p "$out"
  step "read the layer registry from the source" source_layer_types "$root" "$out/layer_types.txt"
  touch "$out/.proto-only"
}

# The layer types the source registers (REGISTER_LAYER_CLASS/CREATOR), leaving out the files that
# are one `#ifdef USE_OPENCV ... #endif` (no build here has OpenCV): the list a build's pycaffe reports.
source_layer_types() {
  local root=$1 dest=$2 f
  for f in "$root"/src/caffe/layers/*.cpp "$root"/src/caffe/layer_factory.cpp; do
    if [ "$(head -n 1 "$f")" = "#ifdef USE_OPENCV" ] \
        && [[ $(grep -v '^[[:space:]]*$' "$f" | tail -n 1) =~ ^#endif.*USE_OPENCV ]]; then continue; fi
    grep -oE 'REGISTER_LAYER_(CLASS|CREATOR)\([A-Za-z0-9_]+' "$f" | sed 's/.*(//' || true
  done | sort -u >"$dest"
  [ -s "$dest" ] || { echo "no REGISTER_LAYER_CLASS in $root/src/caffe"; return 1; }
}

# caffe_pb2 on its own: importing it through pycaffe costs ~0.5 s, this way ~0.07 s.
generate_caffe_pb2() {
  local root=$1 dest=$2
  mkdir -p "$dest"
  protoc --proto_path="$root/src/caffe/proto" --python_out="$dest" "$root/src/caffe/proto/caffe.proto"
}

# Builds into the cache unless a complete build is there. Setups that run at once take turns:
# the one holding the lock builds, the others then find its build complete.
build_or_reuse() {
  local lock_fd
  logs=$cache/logs/$(basename "$prefix")  # builds of other keys may run at the same time
  mkdir -p "$cache/locks"
  exec {lock_fd}>"$cache/locks/$(basename "$prefix").lock"
  if ! flock -n "$lock_fd"; then
    say "waiting for another setup that is building $prefix"
    flock "$lock_fd"
  fi
  if prefix_is_complete "$prefix"; then
    say "$([ "$proto_only" = 1 ] && echo caffe_pb2 || echo caffe build) cached at $prefix"
  else
    # Builds of this key killed before they finished (we hold its lock, so none is running).
    rm -rf "$cache/build-$key."*
    local start
    start=$(date +%s)
    if [ "$proto_only" = 1 ]; then
      make_prefix fill_proto "$src" "$prefix"
      say "made caffe_pb2 and the layer list in $(( $(date +%s) - start )) s into $prefix"
    else
      make_prefix fill_caffe "$src" "$prefix"
      say "built caffe in $(( $(date +%s) - start )) s into $prefix"
    fi
  fi
  exec {lock_fd}>&-
}

link_into_venv() {
  local prefix=$1 site b
  site=$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
  if [ "$proto_only" = 1 ]; then  # and no Caffe build left linked from an earlier setup
    rm -f "$site/caffesiam-pycaffe.pth" "$venv/bin/caffe" "$venv/bin/convert_mnist_siamese_data"
    ln -sfn "$prefix" "$venv/caffe"
    return
  fi
  echo "$prefix/python" >"$site/caffesiam-pycaffe.pth"
  ln -sfn "$prefix/bin/caffe" "$venv/bin/caffe"
  rm -f "$venv/bin/convert_mnist_siamese_data"  # linked by earlier setups; scripts/caffe_tool.sh builds it
  ln -sfn "$prefix" "$venv/caffe"
  "$venv/bin/python" -c 'import caffe'
  # The layer registry, so spec checks need not import pycaffe (0.5 s) on every gen-net.
  if [ ! -s "$prefix/layer_types.txt" ]; then
    "$venv/bin/python" -c 'import caffe; print("\n".join(caffe.layer_type_list()))' >"$prefix/layer_types.txt.part"
    mv "$prefix/layer_types.txt.part" "$prefix/layer_types.txt"
  fi
}

# For scripts that use the build (caffe_tests.sh, caffe_tool.sh): the build this checkout's venv
# (given) and patches make, in $prefix (with $src and $key); exit 1 naming `make setup` if absent.
require_installed_build() {
  parse_args --venv "$1" --skip-system-packages
  resolve_source
  key=$(build_key "$src" "$venv/bin/python")
  prefix=$cache/caffe-$key
  if ! prefix_is_complete "$prefix"; then
    echo "$prog: no Caffe build for this checkout's patches at $prefix; run make setup first" >&2
    exit 1
  fi
}

# --- main --------------------------------------------------------------------
# Everything up to the build: arguments, system packages, the venv with what the build reads, the
# source, and the build's key and prefix.
prepare_build() {
  parse_args "$@"
  [ "$skip_system" = 1 ] || install_system_packages
  py=$python
  if [ -n "$venv" ]; then
    step "python venv $venv$([ "$proto_only" = 1 ] || echo " with numpy, which the build reads")" ensure_venv
    py=$venv/bin/python
  fi
  resolve_source
  [ "$gpu" = 0 ] || resolve_cuda_toolkit
  if [ "$proto_only" = 1 ]; then
    key=$(proto_key "$src")
    prefix="$cache/caffe-proto-$key"
  else
    key=$(build_key "$src" "$py")
    prefix="$cache/caffe-$key"
  fi
}

main() {
  prepare_build "$@"
  if [ -n "$venv" ]; then in_background venv_steps_alongside_build; fi
  build_or_reuse
  join_background
  if [ -n "$venv" ]; then
    step "link caffe into $venv" link_into_venv "$prefix"
  fi
  if [ "$proto_only" = 1 ]; then
    say "caffe_pb2 ready (no Caffe build; train with --docker IMAGE): $prefix/proto/caffe_pb2.py"
  else
    say "caffe ready: $prefix/bin/caffe"
  fi
}

# Sourcing the script (the tests do) defines its functions without running it.
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  main "$@"
fi
