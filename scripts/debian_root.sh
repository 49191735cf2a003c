# Sourced by fresh_check.sh and offline_rehearsal.sh: a minimal Debian root made by mmdebstrap,
# and its safe removal. Run as root.
#
#   rerun_as_root "$@"               runs the calling script again under sudo, keeping the
#                                    pip and proxy settings, unless it already runs as root
#   make_debian_root ROOT PACKAGES [RELEASE]
#                                    mmdebstrap ROOT of RELEASE (bookworm or trixie, default
#                                    bookworm) with PACKAGES (comma-separated) and the host's apt
#                                    settings: the host's own sources when it runs RELEASE, else
#                                    the host's Debian mirrors with RELEASE's suites; then the
#                                    host's name resolution, CA certificates, and apt's and pip's
#                                    client configuration
#   check_release RELEASE            exits 2 unless RELEASE is one this project supports
#   give ROOT PATH...                copies host PATHs (relative to /) into ROOT
#   host_client_files                the host files (relative to /) a new machine on this network
#                                    has besides: name resolution, CA certificates, apt's and pip's
#                                    client configuration (the Docker images' builder stage too)
#   host_client_env                  NAME=VALUE lines: this machine's pip and proxy variables
#   release_root ROOT KEEP           kills what runs inside ROOT, undoes every mount under it, then
#                                    deletes it unless KEEP=1 or something is still mounted there

rerun_as_root() {
  if [ "$(id -u)" != 0 ]; then
    exec sudo --preserve-env=PIP_CERT,PIP_INDEX_URL,PIP_EXTRA_INDEX_URL,PIP_FIND_LINKS,PIP_DEFAULT_TIMEOUT,http_proxy,https_proxy,no_proxy,HTTP_PROXY,HTTPS_PROXY,NO_PROXY,DEMO_ITERS \
      bash "$0" "$@"
  fi
}

supported_releases=(bookworm trixie)

check_release() {
  local r
  for r in "${supported_releases[@]}"; do [ "$1" = "$r" ] && return 0; done
  echo "unknown Debian release '$1': choose ${supported_releases[*]}" >&2
  exit 2
}

host_codename() { (. /etc/os-release 2>/dev/null && echo "${VERSION_CODENAME:-}"); }

# The host's sources and apt settings, as mmdebstrap options (settings persist inside the root).
host_apt_options() {
  local f
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
    if [ -s "$f" ] && grep -qv '^[[:space:]]*\(#\|$\)' "$f"; then echo "$f"; fi
  done
}
host_apt_settings() {
  local f
  for f in /etc/apt/apt.conf /etc/apt/apt.conf.d/*; do
    if [ -f "$f" ]; then echo "--aptopt=$f"; fi
  done
}

# Everything goes in through tar run inside the chroot, so no write can follow one of the
# root's absolute symlinks (e.g. /etc/resolv.conf) out onto the host.
give() {
  local root=$1
  shift
  tar -C / -chf - "$@" | chroot "$root" tar -xf - -C /
}

# The Debian archive and security mirrors the host's apt uses, with RELEASE's suites.
release_sources() {
  local release=$1 main security
  main=$(host_mirror Debian)
  security=$(host_mirror Debian-Security)
  echo "deb ${main:-http://deb.debian.org/debian} $release main"
  echo "deb ${main:-http://deb.debian.org/debian} $release-updates main"
  echo "deb ${security:-http://deb.debian.org/debian-security} $release-security main"
}
host_mirror() {
  apt-get indextargets --format '$(ORIGIN)|$(LABEL)|$(REPO_URI)' 2>/dev/null \
    | awk -F'|' -v label="$1" '$1 == "Debian" && $2 == label { sub("/$", "", $3); print $3; exit }'
}

make_debian_root() {
  local root=$1 packages=$2 release=${3:-bookworm} sources settings
  if ! command -v mmdebstrap >/dev/null; then
    echo "installing mmdebstrap on the host"
    apt-get install -y -q --no-install-recommends mmdebstrap >/dev/null
  fi
  if [ "$(host_codename)" = "$release" ]; then
    mapfile -t sources < <(host_apt_options)
  else
    mapfile -t sources < <(release_sources "$release")
  fi
  mapfile -t settings < <(host_apt_settings)
  mmdebstrap --quiet --variant=apt --include="$packages" "${settings[@]}" "$release" "$root" "${sources[@]}"
  local host_files
  mapfile -t host_files < <(host_client_files)
  give "$root" etc/resolv.conf etc/hosts "${host_files[@]}"
}

# CA certificates, and pip's and apt's client configuration (credentials and keyrings too).
host_client_files() {
  local f
  for f in etc/ssl/certs usr/local/share/ca-certificates etc/apt/auth.conf.d etc/apt/keyrings \
      etc/apt/trusted.gpg.d etc/pip.conf etc/xdg/pip; do
    if [ -e "/$f" ]; then echo "$f"; fi
  done
}

host_client_env() {
  local name value
  while IFS='=' read -r name value; do
    case "$name" in
      PIP_*|http_proxy|https_proxy|no_proxy|HTTP_PROXY|HTTPS_PROXY|NO_PROXY) echo "$name=$value" ;;
    esac
  done < <(env)
}

# Every mount point under the root, deepest first (from the kernel's own table).
mounted_under() {
  awk -v r="$1" '$5 == r || index($5, r "/") == 1 { print $5 }' /proc/self/mountinfo | sort -r
}

release_root() {
  local root=$1 keep=$2 pid m
  # Processes still running inside the root (a daemon a test left) hold its mounts.
  for pid in /proc/[0-9]*; do
    if [ "$(readlink "$pid/root" 2>/dev/null)" = "$root" ]; then kill -9 "${pid#/proc/}" 2>/dev/null || true; fi
  done
  while read -r m; do
    [ -n "$m" ] || continue
    umount "$m" 2>/dev/null || umount -l "$m" || true
  done < <(mounted_under "$root")
  if [ -n "$(mounted_under "$root")" ]; then
    echo "still mounted under $root, so it is left in place:" >&2
    mounted_under "$root" >&2
    return 1
  elif [ "$keep" = 1 ]; then
    echo "root kept at $root"
  else
    rm -rf --one-file-system "$root"
  fi
}
