#!/usr/bin/env bash
# make offline-rehearsal: the first stages of scripts/offline_gpu_check.sh on a stand-in for a GPU
# host without internet, so that a missing package shows here and not on the offline host:
#
#   scripts/offline_rehearsal.sh [configure|build] [--bundle DIR] [--cuda 12|13] [--arch LIST] [--keep]
#
#   configure (default)  cmake finds every dependency in the bundle and the toolkit (a minute)
#   build                install_caffe.sh --gpu --no-python (tens of minutes on two cores)
#   --bundle DIR         the bundle (default offline-bundle/; scripts/offline_bundle.sh makes it
#                        there if it is missing)
#   --cuda 12|13         the toolkit install_caffe.sh fetches for the stand-in (default 13)
#   --arch LIST          SASS architectures to build (default "90": one builds fastest)
#   --keep               leave the root in place for a look
#
# The stand-in: a clean Debian 12 root with only what such a host has besides its GPU (a C++
# compiler, make, cmake, Python 3, patch, xz), in a network namespace of its own (it reaches
# nothing), with the CUDA toolkit mounted read-only as its nvcc (CUDA_HOME), and the checkout
# copied as it would be to the host: tracked and untracked files that git does not ignore, plus
# the bundle. What it cannot show: kernels running, and the gtest, train and bench stages, which
# need a GPU (and for train and bench, the host's Python and PyTorch).
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
args=("$@")
stage=configure bundle=$repo/offline-bundle cuda=13 arch=90 keep=0
usage_error() { echo "offline_rehearsal: $*" >&2; exit 2; }
while [ $# -gt 0 ]; do
  case "$1" in
    configure|build) stage=$1; shift ;;
    --bundle|--cuda|--arch)
      [ $# -ge 2 ] && [ -n "$2" ] && [ "${2#--}" = "$2" ] || usage_error "$1 needs a value (see --help)"
      case "$1" in
        --bundle) bundle=$(realpath -m "$2") ;;
        --cuda) cuda=$2 ;;
        --arch) arch=$2 ;;
      esac
      shift 2 ;;
    --keep) keep=1; shift ;;
    -h|--help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) usage_error "unknown argument '$1' (see --help)" ;;
  esac
done
[[ $cuda =~ ^1[23]$ ]] || usage_error "--cuda needs 12 or 13"
[[ $arch =~ ^[0-9]+( [0-9]+)*$ ]] || usage_error "--arch must be like \"80 90\", got '$arch'"
# shellcheck source=debian_root.sh
. "$repo/scripts/debian_root.sh"
rerun_as_root "${args[@]}"  # mmdebstrap, chroot and mounts
say() { echo "== offline-rehearsal: $*"; }
start=$(date +%s)

# The CUDA toolkit, as install_caffe.sh fetches it (cached after the first time).
mapfile -t toolkit < <(
  # shellcheck source=install_caffe.sh
  . "$repo/scripts/install_caffe.sh"
  export CAFFESIAM_CUDA=$cuda  # the fetched toolkit, all of it under the cache: nothing of the host's
  parse_args --gpu --no-python --skip-system-packages
  resolve_cuda_toolkit >&2
  printf '%s\n' "$cache/cuda" "$cuda_view"
)
[ "${#toolkit[@]}" = 2 ] || { echo "offline_rehearsal: no CUDA $cuda toolkit" >&2; exit 1; }
cuda_store=${toolkit[0]} cuda_home=${toolkit[1]}
[ -f "$bundle/deps.tar.xz" ] || bash "$repo/scripts/offline_bundle.sh" --out "$bundle"

root=""
cleanup() {
  local status=$?
  trap - EXIT INT TERM
  if [ -n "$root" ]; then release_root "$root" "$keep" || true; fi
  exit "$status"
}
trap cleanup EXIT
trap 'echo; say "interrupted"; exit 130' INT TERM

root=$(mktemp -d /var/tmp/caffesiam-offline.XXXXXX)
chmod 755 "$root"
say "a Debian 12 root with an offline GPU host's tools in $root"
make_debian_root "$root" g++,make,cmake,python3,patch,xz-utils
work=/root/caffesiam
chroot "$root" mkdir -p "$work/offline-bundle"
(cd "$repo" && git ls-files -coz --exclude-standard | tar --null -T - -cf -) \
  | chroot "$root" sh -c "tar -xif - -C $work"
tar -C "$bundle" -cf - . | chroot "$root" sh -c "tar -xf - -C $work/offline-bundle"
mkdir -p "$root$cuda_store"
mount --bind -o ro "$cuda_store" "$root$cuda_store"
mount -t proc proc "$root/proc"
mount --bind /dev "$root/dev"

say "scripts/offline_gpu_check.sh $stage --arch \"$arch\", CUDA_HOME=$cuda_home, no network"
unshare --net chroot "$root" /usr/bin/env -i HOME=/root PATH=/usr/bin:/bin LANG=C.UTF-8 CUDA_HOME="$cuda_home" \
  bash -c "cd $work && bash scripts/offline_gpu_check.sh $stage --arch '$arch'"
say "passed: offline_gpu_check.sh $stage on the stand-in in $(( $(date +%s) - start )) s"
