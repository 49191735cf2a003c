#!/usr/bin/env bash
# make fresh-check: the README's two commands, run as a new user would, on a clean Debian root.
#
#   scripts/fresh_check.sh [--release bookworm|trixie] [--keep] [--iters N | --full-demo] [--log FILE]
#
# 1. mmdebstrap builds a minimal root of the release (default bookworm, Debian 12; trixie is
#    Debian 13): apt, git, make, python3, python3-venv and sudo. It gets the host's apt
#    configuration (and sources, or for another release than the host's, the host's Debian
#    mirrors with that release's suites), pip configuration and CA certificates (so its package
#    clients reach the same registries), and nothing else of the host: no Caffe cache, no venv.
# 2. The repository's HEAD is cloned into the home of an ordinary user with sudo.
# 3. In a chroot, as that user: `DEMO_ITERS=N make demo` (default 500), then `make test`.
#    --full-demo: the first run exactly as a new user meets it, `make demo` with its own
#    iterations, and no `make test` (bench/first_run_steps.py breaks its log down by step).
# Each line of output is stamped with the time since the start; the phases' times end the run.
# --log FILE keeps the stamped output in FILE too. The load average at the start is printed.
# Mounts are undone on success, failure and Ctrl-C; the root is deleted only once nothing is
# mounted inside it, and never across a file-system boundary. --keep leaves the root for a look.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
args=("$@")
keep=0
release=bookworm
iters=${DEMO_ITERS:-500}
full_demo=0
log=""
user=newuser
packages=apt,git,make,python3,python3-venv,sudo

while [ $# -gt 0 ]; do
  case "$1" in
    --keep) keep=1; shift ;;
    --release) [ $# -ge 2 ] || { echo "fresh_check: --release needs a name" >&2; exit 2; }; release=$2; shift 2 ;;
    --iters) [ $# -ge 2 ] || { echo "fresh_check: --iters needs a number" >&2; exit 2; }; iters=$2; shift 2 ;;
    --full-demo) full_demo=1; shift ;;
    --log) [ $# -ge 2 ] && [ -n "$2" ] || { echo "fresh_check: --log needs a file" >&2; exit 2; }; log=$2; shift 2 ;;
    -h|--help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "fresh_check: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
[[ $iters =~ ^[1-9][0-9]*$ ]] || { echo "fresh_check: --iters must be a positive number" >&2; exit 2; }
if [ -n "$log" ]; then
  log=$(realpath -m "$log")
  [ -d "$(dirname "$log")" ] && [ ! -d "$log" ] || { echo "fresh_check: --log: cannot write $log" >&2; exit 2; }
fi
# shellcheck source=debian_root.sh
. "$repo/scripts/debian_root.sh"
check_release "$release"
rerun_as_root "${args[@]}"
if [ -n "$log" ]; then exec > >(tee "$log") 2>&1; fi

start=$(date +%s)
stamp() { local s=$(( $(date +%s) - start )); printf '[%02d:%02d] ' $((s / 60)) $((s % 60)); }
say() { echo "$(stamp)fresh-check ($release): $*"; }
phases=()
phase_done() { phases+=("$1 $(( $(date +%s) - $2 )) s"); }

root=""
cleanup() {
  local status=$?
  trap - EXIT INT TERM
  if [ -n "$root" ]; then release_root "$root" "$keep" | sed "s/^/$(stamp)fresh-check: /" || true; fi
  exit "$status"
}
trap cleanup EXIT
trap 'echo; say "interrupted"; exit 130' INT TERM

say "load average at the start: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores"
root=$(mktemp -d "/var/tmp/caffesiam-fresh-$release.XXXXXX")
chmod 755 "$root"
t=$(date +%s)
say "building a minimal $release root in $root ($packages)"
make_debian_root "$root" "$packages" "$release"
phase_done "root" "$t"
in_root() { chroot "$root" "$@"; }

home=/home/$user
uid=1000
in_root sh -c "echo '$user:x:$uid:$uid::$home:/bin/bash' >>/etc/passwd
  echo '$user:x:$uid:' >>/etc/group
  echo '$user:*:19000:0:99999:7:::' >>/etc/shadow
  echo '$user ALL=(ALL) NOPASSWD: ALL' >/etc/sudoers.d/$user && chmod 440 /etc/sudoers.d/$user
  mkdir -p $home/.config/pip && chown -R $uid:$uid $home"
for f in "${PIP_CONFIG_FILE:-}" "$HOME/.config/pip/pip.conf" "$HOME/.pip/pip.conf"; do
  if [ -n "$f" ] && [ -f "$f" ]; then
    in_root runuser -u "$user" -- sh -c "cat >$home/.config/pip/pip.conf" <"$f"
    break
  fi
done

# The repository's HEAD, cloned inside the root by its own git from a bundle.
bundle=$(mktemp /tmp/caffesiam-fresh.XXXXXX.bundle)
git -C "$repo" bundle create --quiet "$bundle" HEAD $(git -C "$repo" symbolic-ref -q HEAD || true)
in_root runuser -u "$user" -- sh -c "cat >/tmp/caffesiam.bundle" <"$bundle"
rm -f "$bundle"
in_root runuser -u "$user" -- git -c advice.detachedHead=false clone --quiet /tmp/caffesiam.bundle "$home/caffesiam"
say "cloned $(git -C "$repo" rev-parse --short HEAD) into $home/caffesiam"

mount -t proc proc "$root/proc"
mount -t sysfs sysfs "$root/sys"
mount --bind /dev "$root/dev"
mount --bind /dev/pts "$root/dev/pts"
mount -t tmpfs -o mode=1777 tmpfs "$root/dev/shm"

# The user's environment: a clean login, plus the pip and proxy variables of this machine.
passed=(HOME="$home" USER="$user" LOGNAME="$user" SHELL=/bin/bash LANG=C.UTF-8
        PATH=/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin)
mapfile -t -O ${#passed[@]} passed < <(host_client_env)

as_new_user() {
  chroot "$root" /usr/sbin/runuser -u "$user" -- /usr/bin/env -i "${passed[@]}" \
    bash -c "cd ~/caffesiam && $1" 2>&1 | while IFS= read -r line; do echo "$(stamp)$line"; done
  return "${PIPESTATUS[0]}"
}

demo="DEMO_ITERS=$iters make demo"
[ "$full_demo" = 0 ] || demo="make demo"
t=$(date +%s)
say "as $user: $demo"
as_new_user "$demo" || { say "FAILED in make demo"; exit 1; }
phase_done "make demo (setup included)" "$t"
if [ "$full_demo" = 1 ]; then
  phase_done "total" "$start"
  say "the first run on a clean $release root; times: $(IFS=';'; echo "${phases[*]}" | sed 's/;/, /g')"
  exit 0
fi

t=$(date +%s)
say "as $user: make test"
as_new_user "make test" || { say "FAILED in make test"; exit 1; }
phase_done "make test" "$t"

phase_done "total" "$start"
say "passed on a clean $release root ($(. "$root/etc/os-release" && echo "$PRETTY_NAME")); times: $(IFS=';'; echo "${phases[*]}" | sed 's/;/, /g')"
