# Sourced by install_caffe.sh for --gpu builds: finds or fetches a CUDA toolkit and assembles
# it as one folder of symlinks (the "view": bin/ include/ lib64/ nvvm/) that CMake, nvcc and,
# through the rpath, the runtime linker read. No LD_LIBRARY_PATH, nothing installed system-wide.
#
# Where each piece comes from, first found wins:
#   1. CUDA_HOME, else the nvcc on PATH: that toolkit (CUDA 12 or 13), for the compiler and
#      every library it holds;
#   2. CUDNN_ROOT, NCCL_ROOT: a cuDNN / NCCL folder with include/ and lib/ (PyTorch's will do);
#   3. the pinned PyPI wheels of the toolkit's CUDA major, installed by pip into the cache.
#   CAFFESIAM_CUDA=12|13 passes over any toolkit on the machine and fetches that CUDA whole;
#   with no toolkit on the machine, CUDA 12 is fetched (it runs on more drivers than 13).
# PyPI's CUDA 12 compiler wheel holds ptxas and headers only (no nvcc, cicc, cudafe++, fatbinary
# or nvlink), so a fetched CUDA 12 takes those from Debian's non-free nvidia-cuda-toolkit package
# of the same release, unpacked into the cache (not installed).
#
# Needs from install_caffe.sh: $cache, $python, $no_cudnn, step/retry/say, usage_error,
# keep_verified, debian_mirror, $debian_keyring.

# --- pins ----------------------------------------------------------------------
# One requirement line per component; the compiler of CUDA 12 is the .deb below.
# (cccl 12.4.127 lacks libcu++'s top headers, cuda/__cccl_config and nv/target; .post1 has them.)
declare -A cuda12_wheel=(
  [compiler]="nvidia-cuda-nvcc-cu12==12.4.131 --hash=sha256:e4c9a35435c3b0e36c6397c5696334c9ea6650e524736cbd1c5d345ea099bb04"
  [runtime]="nvidia-cuda-runtime-cu12==12.4.127 --hash=sha256:64403288fa2136ee8e467cdc9c9427e0434110899d07c779f25b5c068934faa5"
  [cccl]="nvidia-cuda-cccl-cu12==12.4.127.post1 --hash=sha256:2027fa5fc75fbee703bf24e8275a40a605cf94a3e8fef8a7187897d49b34facb"
  [cublas]="nvidia-cublas-cu12==12.4.5.8 --hash=sha256:2fc8da60df463fdefa81e323eef2e36489e1c94335b5358bcb38360adf75ac9b"
  [curand]="nvidia-curand-cu12==10.3.5.147 --hash=sha256:a88f583d4e0bb643c49743469964103aa59f7f708d862c3ddb0fc07f851e3b8b"
  [cudnn]="nvidia-cudnn-cu12==9.1.0.70 --hash=sha256:165764f44ef8c61fcdfdfdbe769d687e06374059fbb388b6c89ecb0e28793a6f"
  [nccl]="nvidia-nccl-cu12==2.21.5 --hash=sha256:8579076d30a8c24988834445f8d633c697d42397e92ffc3f63fa26766d25e0a0"
)
cuda12_compiler_deb=nvidia-cuda-toolkit_12.4.131~12.4.1-2_amd64.deb
cuda12_compiler_version=12.4.131~12.4.1-2
cuda12_compiler_suite="trixie non-free"
cuda12_compiler_sha256=cd5fe85aee38d108b315f408a688641478f2402622a10c677478eb7a6c4e5319
declare -A cuda13_wheel=(
  [compiler]="nvidia-cuda-nvcc==13.0.88 --hash=sha256:56fe502eb77625a12f25172caa3cdddb4e4c8ba2c8c17dba44b164761b380f03
nvidia-cuda-crt==13.0.88 --hash=sha256:2c8043c7c9e02492716426e9919fc78d2c5b3b2a7a768a88e952676b08aa55a4
nvidia-nvvm==13.0.88 --hash=sha256:c5f41ffeb6466944a026dfa5317d7d85355c119bbec279205d22f1869d1054e0"
  [runtime]="nvidia-cuda-runtime==13.0.96 --hash=sha256:7f82250d7782aa23b6cfe765ecc7db554bd3c2870c43f3d1821f1d18aebf0548"
  [cccl]="nvidia-cuda-cccl==13.0.85 --hash=sha256:e0da7ad981f3a8aff08241b5bfc1af868742a63e2762f53a5171c492ef242649"
  [cublas]="nvidia-cublas==13.0.2.14 --hash=sha256:0cf238ffdbe46c00cb9aa98e7bca745c223a5ca5a53e686ac8b3e5a08fe80d6c"
  [curand]="nvidia-curand==10.4.0.35 --hash=sha256:1aee33a5da6e1db083fe2b90082def8915f30f3248d5896bcec36a579d941bfc"
  [cudnn]="nvidia-cudnn-cu13==9.13.0.50 --hash=sha256:2150b4850725d30653ec3e365f0732e3e2e3eb8633cf3bd2d3117628dea8b4f9"
  [nccl]="nvidia-nccl-cu13==2.27.7 --hash=sha256:b28a524abd8389b76a4a3f133c76a7aaa7005e47fcaa9d9603b90103927a3f93"
)
# cuobjdump, for gpu_build_check.sh only (CUDA 12's comes with the .deb; PyPI has none for 13.0).
cuda13_cuobjdump_wheel="nvidia-cuda-cuobjdump==13.2.51 --hash=sha256:95c69d3ddf0c2c1f535ec44c3433a66aeee19f588d9d22f73356e20b25f12b50"

# SASS for Turing, Ampere, Ada and Hopper; PTX of the newest for later cards (JIT by the driver).
cuda_arch_default="75 80 86 89 90"

# --- finding the pieces -----------------------------------------------------------
# The header and library that show a component is in ROOT (lib/ or lib64/, any soname).
component_files() {
  case "$1" in
    runtime) echo "cuda_runtime.h cudart" ;;
    cccl) echo "thrust/version.h -" ;;
    cublas) echo "cublas_v2.h cublas" ;;
    curand) echo "curand.h curand" ;;
    cudnn) echo "cudnn.h cudnn" ;;
    nccl) echo "nccl.h nccl" ;;
  esac
}

has_component() {
  local root=$1 header lib
  read -r header lib < <(component_files "$2")
  [ -f "$root/include/$header" ] || [ -f "$root/include/cccl/$header" ] || return 1
  [ "$lib" = - ] || compgen -G "$root/lib*/lib$lib.so*" >/dev/null
}

# The toolkit folder of an nvcc (the one nvcc itself reports, so wrapper scripts are seen through).
nvcc_root() {
  local here
  here=$("$1" -dryrun -E -x cu /dev/null 2>&1 | sed -n 's/^#\$ _HERE_=//p' | head -n1)
  [ -n "$here" ] || here=$(dirname "$(realpath "$1")")
  (cd "$here/.." && pwd)
}

nvcc_major() { "$1" --version | sed -n 's/.*release \([0-9]*\)\..*/\1/p'; }

# Sets cuda_local (a toolkit on the machine, or empty) and cuda_major.
find_local_toolkit() {
  cuda_local="" cuda_major=""
  local nvcc=""
  if [ -n "${CUDA_HOME:-}" ]; then
    nvcc=$CUDA_HOME/bin/nvcc
    [ -x "$nvcc" ] || usage_error "CUDA_HOME=$CUDA_HOME has no bin/nvcc"
  elif [ -n "${CAFFESIAM_CUDA:-}" ]; then
    case "$CAFFESIAM_CUDA" in
      12|13) cuda_major=$CAFFESIAM_CUDA; return ;;
      *) usage_error "CAFFESIAM_CUDA must be 12 or 13, got '$CAFFESIAM_CUDA'" ;;
    esac
  elif command -v nvcc >/dev/null; then
    nvcc=$(command -v nvcc)
  else
    cuda_major=12
    return
  fi
  cuda_local=$(nvcc_root "$nvcc")
  cuda_major=$(nvcc_major "$nvcc")
  case "$cuda_major" in
    12|13) ;;
    *) usage_error "the CUDA toolkit at $cuda_local is release '$cuda_major'; Caffe's GPU build needs CUDA 12 or 13 (set CAFFESIAM_CUDA=12 to fetch one)" ;;
  esac
  has_component "$cuda_local" runtime \
    || usage_error "the CUDA toolkit at $cuda_local has no cuda_runtime.h and libcudart (set CAFFESIAM_CUDA=12 to fetch one)"
}

# The --gpu settings, checked before install_caffe.sh's first step: the toolkit it would use
# (CUDA_HOME, CAFFESIAM_CUDA or the nvcc on PATH), the architectures, the cuDNN and NCCL folders.
check_cuda_settings() {
  local arch=${CAFFESIAM_CUDA_ARCH:-$cuda_arch_default} name
  [[ $arch =~ ^[1-9][0-9]{1,2}( [1-9][0-9]{1,2})*$ ]] \
    || usage_error "CAFFESIAM_CUDA_ARCH must be compute capabilities such as \"80 90\", got '$arch'"
  for name in CUDNN_ROOT NCCL_ROOT; do
    [ -z "${!name:-}" ] || [ -d "${!name}" ] || usage_error "$name: ${!name} is not a directory"
  done
  find_local_toolkit
}

# --- fetching ------------------------------------------------------------------
# pip from a small venv of its own in the cache: Debian's python has no pip, and the wheels
# belong in the cache, not in the user's venv.
cuda_pip() {
  local venv=$cache/cuda/pip-venv
  if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -m pip --version >/dev/null 2>&1; then
    rm -rf "$venv"
    "$python" -m venv "$venv" >&2
  fi
  "$venv/bin/python" -m pip "$@"
}

# Installs the requirement lines in $2 (pinned, hashed) into folder $1, atomically; the wheels
# stay in the cache's downloads for the next build.
install_wheels() {
  local dest=$1 requirements=$2 tmp
  tmp=$(mktemp -d "$dest.XXXXXX")
  printf '%s\n' "$requirements" >"$tmp/requirements.txt"
  retry cuda_pip download --no-deps --only-binary=:all: --require-hashes \
    -r "$tmp/requirements.txt" -d "$cache/downloads/cuda-wheels"
  cuda_pip install --no-deps --no-index --only-binary=:all: --require-hashes \
    --find-links "$cache/downloads/cuda-wheels" -r "$tmp/requirements.txt" --target "$tmp/site"
  rm -rf "$dest"
  mv "$tmp/site" "$dest"
  rm -rf "$tmp"
}

# CUDA 12's nvcc, cicc, cudafe++, fatbinary, nvlink, bin2c and cuobjdump, from Debian's package,
# rearranged into a toolkit's layout (bin/, nvvm/bin/, nvvm/libdevice/).
fetch_cuda12_compiler() {
  local dest=$1 tmp mirror
  tmp=$(mktemp -d "$dest.XXXXXX")
  if ! have_verified "$cuda12_compiler_deb" "$cuda12_compiler_sha256"; then
    mirror=$(debian_mirror)
    mkdir -p "$tmp/lists/partial"
    echo "deb [signed-by=$debian_keyring] $mirror $cuda12_compiler_suite" >"$tmp/sources.list"
    local opts=(-o "Dir::Etc::SourceList=$tmp/sources.list" -o Dir::Etc::SourceParts=/dev/null
                -o "Dir::State::Lists=$tmp/lists" -o "Dir::Cache=$tmp/cache" -o Debug::NoLocking=1)
    retry apt-get "${opts[@]}" update
    (cd "$tmp" && retry apt-get "${opts[@]}" download "nvidia-cuda-toolkit=$cuda12_compiler_version")
    keep_verified "$tmp/$cuda12_compiler_deb" "$cuda12_compiler_deb" "$cuda12_compiler_sha256"
  fi
  dpkg-deb -x "$cache/downloads/$cuda12_compiler_deb" "$tmp/x"
  local out=$tmp/root tool
  mkdir -p "$out/bin" "$out/nvvm/bin" "$out/nvvm/libdevice"
  mv "$tmp/x/usr/lib/nvidia-cuda-toolkit/bin/nvcc" "$tmp/x/usr/lib/nvidia-cuda-toolkit/bin/crt" "$out/bin/"
  mv "$tmp/x/usr/lib/nvidia-cuda-toolkit/bin/cicc" "$out/nvvm/bin/"
  mv "$tmp/x/usr/lib/nvidia-cuda-toolkit/libdevice/"* "$out/nvvm/libdevice/"
  for tool in cudafe++ fatbinary nvlink ptxas bin2c cuobjdump nvdisasm nvprune cu++filt; do
    mv "$tmp/x/usr/bin/$tool" "$out/bin/"
  done
  rm -rf "$dest"
  mv "$out" "$dest"
  rm -rf "$tmp"
}

# --- the view --------------------------------------------------------------------
# nvcc reads the profile next to the path it was started by, so the view's bin/nvcc (a symlink)
# finds everything through the view.
write_nvcc_profile() {
  local bin=$1 cccl=""
  if [ -d "$bin/../include/cccl" ]; then cccl='SYSTEM_INCLUDES += "-isystem" "$(TOP)/include/cccl" $(_SPACE_)'; fi
  rm -f "$bin/nvcc.profile"
  cat >"$bin/nvcc.profile" <<EOF
TOP              = \$(_HERE_)/..
CICC_PATH        = \$(TOP)/nvvm/bin
NVVMIR_LIBRARY_DIR = \$(TOP)/nvvm/libdevice
LD_LIBRARY_PATH += \$(TOP)/lib64:
PATH            += \$(CICC_PATH):\$(_HERE_):
INCLUDES        +=  "-I\$(TOP)/include" \$(_SPACE_)
$cccl
LIBRARIES        =+ \$(_SPACE_) "-L\$(TOP)/lib64/stubs" "-L\$(TOP)/lib64"
CUDAFE_FLAGS    +=
PTXAS_FLAGS     +=
EOF
}

# Merges the pieces (toolkit-shaped folders, first one wins per file) into the view at $1.
assemble_view() {
  local view=$1 tmp root sub lib link
  shift
  tmp=$(mktemp -d "$view.XXXXXX")
  mkdir -p "$tmp/bin" "$tmp/include" "$tmp/lib64" "$tmp/nvvm"
  for root in "$@"; do
    root=$(realpath "$root")
    for sub in bin include nvvm; do
      if [ -d "$root/$sub" ]; then cp -rsn "$root/$sub/." "$tmp/$sub/"; fi
    done
    for sub in lib64 lib; do
      if [ -d "$root/$sub" ]; then cp -rsn "$root/$sub/." "$tmp/lib64/"; fi
    done
  done
  # Wheels ship sonames only (libcublas.so.12); the linker wants libcublas.so.
  for lib in "$tmp"/lib64/lib*.so.*; do
    [ -e "$lib" ] || continue
    link=${lib%%.so.*}.so
    [ -e "$link" ] || ln -s "$(basename "$lib")" "$link"
  done
  ln -s lib64 "$tmp/lib"
  write_nvcc_profile "$tmp/bin"
  rm -rf "$view"
  mv "$tmp" "$view"
}

# What the build depends on: the compiler's release and the library files it links.
cuda_identity() {
  local view=$1 lib thrust
  echo "nvcc $(cuda_release "$view")"
  for lib in cudart cublas curand cudnn nccl; do
    if [ -e "$view/lib64/lib$lib.so" ]; then echo "$lib $(basename "$(realpath "$view/lib64/lib$lib.so")")"; fi
  done
  for thrust in "$view"/include/thrust/version.h "$view"/include/cccl/thrust/version.h; do
    if [ -f "$thrust" ]; then grep '^#define THRUST_VERSION' "$thrust"; fi
  done
}

cuda_release() { "$1/bin/nvcc" --version | sed -n 's/.*release //p'; }

# Sets cuda_view: the assembled toolkit. Fetches what the machine lacks.
resolve_cuda_toolkit() {
  local lock_fd
  mkdir -p "$cache/cuda" "$cache/locks"
  # Setups at once take turns; under the lock, a half-made folder (name.XXXXXX) is a dead one's.
  exec {lock_fd}>"$cache/locks/cuda.lock"
  flock "$lock_fd"
  rm -rf "$cache"/cuda/*.??????
  find_local_toolkit
  local -n pins="cuda${cuda_major}_wheel"
  local pieces=() wanted=() component fetch="" override
  if [ -n "$cuda_local" ]; then pieces+=("$cuda_local"); fi
  for override in "${CUDNN_ROOT:-}" "${NCCL_ROOT:-}"; do
    if [ -n "$override" ]; then pieces+=("$override"); fi
  done
  wanted=(runtime cccl cublas curand nccl)
  [ "$no_cudnn" = 1 ] || wanted+=(cudnn)
  for component in "${wanted[@]}"; do
    local found=0 root
    for root in "${pieces[@]}"; do
      if has_component "$root" "$component"; then found=1; break; fi
    done
    if [ "$found" = 0 ]; then fetch+="${pins[$component]}"$'\n'; fi
  done
  if [ -z "$cuda_local" ]; then
    fetch="${pins[compiler]}"$'\n'$fetch
    if [ "$cuda_major" = 12 ]; then
      local deb_root=$cache/cuda/compiler-${cuda12_compiler_version%%~*}
      if [ ! -x "$deb_root/bin/nvcc" ]; then
        step "CUDA 12 compiler: Debian's nvidia-cuda-toolkit $cuda12_compiler_version ($cuda12_compiler_suite)" \
          fetch_cuda12_compiler "$deb_root"
      fi
      pieces=("$deb_root" "${pieces[@]}")
    fi
  fi
  if [ -n "$fetch" ]; then
    local wheels
    wheels=$cache/cuda/wheels-$(printf '%s' "$fetch" | sha256sum | cut -c1-12)
    if [ ! -d "$wheels" ]; then
      step "CUDA $cuda_major wheels from PyPI: $(printf '%s' "$fetch" | cut -d' ' -f1 | tr '\n' ' ')" \
        install_wheels "$wheels" "${fetch%$'\n'}"
    fi
    local piece
    for piece in "$wheels"/nvidia/*/; do pieces+=("${piece%/}"); done
  fi
  cuda_view=$cache/cuda/view-$(printf '%s\n' "${pieces[@]}" | sha256sum | cut -c1-12)
  if [ ! -x "$cuda_view/bin/nvcc" ]; then
    step "CUDA $cuda_major toolkit view $cuda_view" assemble_view "$cuda_view" "${pieces[@]}"
  fi
  say "CUDA toolkit: release $(cuda_release "$cuda_view") in $cuda_view"
  exec {lock_fd}>&-
}

# CMake flags of a GPU build, one per line (read by install_caffe.sh's cmake_flags).
cuda_cmake_flags() {
  local arch=${CAFFESIAM_CUDA_ARCH:-$cuda_arch_default}
  printf '%s\n' -DCPU_ONLY=OFF "-DCUDA_TOOLKIT_ROOT_DIR=$cuda_view" -DCUDA_ARCH_NAME=Manual \
    "-DCUDA_ARCH_BIN=$arch" "-DCUDA_ARCH_PTX=${arch##* }" -DCUDA_NVCC_FLAGS=-std=c++17
  if [ "$no_cudnn" = 1 ]; then printf '%s\n' -DUSE_CUDNN=OFF; else printf '%s\n' -DUSE_CUDNN=ON; fi
  if [ -e "$cuda_view/include/nccl.h" ]; then
    printf '%s\n' -DUSE_NCCL=ON "-DNCCL_INCLUDE_DIR=$cuda_view/include" "-DNCCL_LIBRARIES=$cuda_view/lib64/libnccl.so"
  fi
}
