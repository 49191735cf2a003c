#!/usr/bin/env bash
# Rehearses the first stages of scripts/device_check.sh here, on a stand-in for the GPU device
# machine, so that a session lent the device does not spend its time finding a missing package:
#
#   scripts/device_rehearsal.sh [configure|build] [--keep]
#
#   configure (default)  cmake finds every dependency in the carry and the toolkit (a minute)
#   build                install_caffe.sh --gpu --no-python for sm_90 (tens of minutes on two cores)
#
# The stand-in: a clean Debian 12 root with only what the device has besides its GPU (a C++
# compiler, make, cmake, Python 3, patch, xz), in a network namespace of its own (the device
# reaches nothing), with the CUDA 13 toolkit that `make gpu-build-check CUDA=13` fetched mounted
# read-only as its nvcc (CUDA_HOME), and the working tree copied as the device tool copies it:
# tracked and untracked files that git does not ignore, plus .gpu-carry (scripts/device_prep.sh
# makes it if it is missing). What it cannot show: kernels running, and the train and bench
# stages, which need the device's Python 3.12 and PyTorch.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
args=("$@")
stage=configure
keep=0
while [ $# -gt 0 ]; do
  case "$1" in
    configure|build) stage=$1; shift ;;
    --keep) keep=1; shift ;;
    -h|--help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "device_rehearsal: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
# shellcheck source=debian_root.sh
. "$repo/scripts/debian_root.sh"
rerun_as_root "${args[@]}"  # mmdebstrap, chroot and mounts
say() { echo "== device-rehearsal: $*"; }
start=$(date +%s)

# The CUDA 13 toolkit, as install_caffe.sh fetches it (cached after the first time).
mapfile -t toolkit < <(
  # shellcheck source=install_caffe.sh
  . "$repo/scripts/install_caffe.sh"
  export CAFFESIAM_CUDA=13  # the fetched toolkit, all of it under the cache: nothing of the host's
  parse_args --gpu --no-python --skip-system-packages
  resolve_cuda_toolkit >&2
  printf '%s\n' "$cache/cuda" "$cuda_view"
)
[ "${#toolkit[@]}" = 2 ] || { echo "device_rehearsal: no CUDA 13 toolkit" >&2; exit 1; }
cuda_store=${toolkit[0]} cuda_home=${toolkit[1]}
[ -f "$repo/.gpu-carry/deps.tar.xz" ] || bash "$repo/scripts/device_prep.sh"

root=""
cleanup() {
  local status=$?
  trap - EXIT INT TERM
  if [ -n "$root" ]; then release_root "$root" "$keep" || true; fi
  exit "$status"
}
trap cleanup EXIT
trap 'echo; say "interrupted"; exit 130' INT TERM

root=$(mktemp -d /var/tmp/caffesiam-device.XXXXXX)
chmod 755 "$root"
say "a Debian 12 root with the device's tools in $root"
make_debian_root "$root" g++,make,cmake,python3,patch,xz-utils
work=/root/caffesiam
chroot "$root" mkdir -p "$work"
(cd "$repo" && git ls-files -coz --exclude-standard | tar --null -T - -cf - && tar -cf - .gpu-carry) \
  | chroot "$root" sh -c "tar -xif - -C $work"
mkdir -p "$root$cuda_store"
mount --bind -o ro "$cuda_store" "$root$cuda_store"
mount -t proc proc "$root/proc"
mount --bind /dev "$root/dev"

say "scripts/device_check.sh $stage, CUDA_HOME=$cuda_home, no network"
unshare --net chroot "$root" /usr/bin/env -i HOME=/root PATH=/usr/bin:/bin LANG=C.UTF-8 CUDA_HOME="$cuda_home" \
  bash -c "cd $work && bash scripts/device_check.sh $stage"
say "passed: device_check.sh $stage on the stand-in in $(( $(date +%s) - start )) s"
