#!/usr/bin/env bash
# make docker-engine / docker-engine-stop: a private Docker engine for the images and `train --docker`.
#
#   scripts/docker_engine.sh start|stop|status
#
# start   installs docker.io (and mmdebstrap) when missing, then starts a dockerd of its own, with
#         its data root, exec root, socket, pidfile and log under $CAFFESIAM_DOCKER_ROOT (default
#         /var/lib/caffesiam-docker: outside any clone, so image layers outlive it), or reuses the
#         one already running there. No bridge network and no iptables rules: image builds use the
#         host's network (--network host), trainings none (--network none).
#         If debian:12 is absent and cannot be pulled (no registry reachable), it is made with
#         mmdebstrap from this host's apt sources and imported.
# stop    stops that dockerd, by its own pid.
# status  says whether it runs, and how to point a docker client at it.
# Needs root (or sudo). The socket belongs to the group `docker`: its members may use the engine.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=${CAFFESIAM_DOCKER_ROOT:-/var/lib/caffesiam-docker}
sock=$root/docker.sock
pidfile=$root/dockerd.pid
log=$root/dockerd.log
docker_client=${DOCKER:-docker}
base_image=debian:12

say() { echo "docker-engine: $*"; }

client() { "$docker_client" -H "unix://$sock" "$@"; }

answers() { [ -S "$sock" ] && client version >/dev/null 2>&1; }

running_pid() {
  local pid
  pid=$(cat "$pidfile" 2>/dev/null) || return 1
  [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = dockerd ] && echo "$pid"
}

how_to_use() {
  echo "  export DOCKER_HOST=unix://$sock"
  echo "  (or: docker -H unix://$sock ...; stop it with: make docker-engine-stop)"
}

install_missing() {
  local missing=()
  command -v dockerd >/dev/null || missing+=(docker.io)
  command -v mmdebstrap >/dev/null || missing+=(mmdebstrap)
  [ ${#missing[@]} = 0 ] && return
  say "installing ${missing[*]}"
  apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
}

start_daemon() {
  mkdir -p "$root/data" "$root/exec"
  say "starting dockerd (data root $root/data, log $log)"
  # Its own exec root, so it never meets the files of a system dockerd.
  setsid dockerd --data-root "$root/data" --exec-root "$root/exec" --pidfile "$pidfile" \
    -H "unix://$sock" --bridge=none --iptables=false --ip-masq=false \
    </dev/null >>"$log" 2>&1 &
  local waited
  for waited in $(seq 1 60); do
    if answers; then return; fi
    if ! kill -0 $! 2>/dev/null; then
      echo "docker-engine: dockerd exited at start; last lines of $log:" >&2
      tail -n 20 "$log" >&2
      exit 1
    fi
    sleep 1
  done
  echo "docker-engine: dockerd does not answer on $sock after ${waited} s; see $log" >&2
  exit 1
}

# A base image from this host's apt sources and settings (those of the bootstrap only).
import_base_image() {
  # shellcheck source=debian_root.sh
  . "$here/debian_root.sh"
  local sources settings
  mapfile -t sources < <(host_apt_options)
  mapfile -t settings < <(host_apt_settings)
  say "no registry reachable: making $base_image with mmdebstrap (minbase, bookworm)"
  mmdebstrap --quiet --variant=minbase "${settings[@]}" \
    --customize-hook='rm -f "$1/etc/apt/apt.conf.d/99mmdebstrap"' bookworm - "${sources[@]}" \
    | client import --change 'CMD ["bash"]' - "$base_image" >/dev/null
}

ensure_base_image() {
  if client image inspect "$base_image" >/dev/null 2>&1; then return; fi
  if timeout 120 "$docker_client" -H "unix://$sock" pull -q "$base_image" >/dev/null 2>&1; then
    say "pulled $base_image"
    return
  fi
  import_base_image
  say "imported $base_image"
}

start() {
  [ "$(id -u)" = 0 ] || exec sudo --preserve-env=CAFFESIAM_DOCKER_ROOT,DOCKER,http_proxy,https_proxy,no_proxy bash "$0" start
  install_missing
  if running_pid >/dev/null && answers; then
    say "reusing the dockerd already running (pid $(running_pid))"
  else
    start_daemon
    say "dockerd running (pid $(running_pid))"
  fi
  ensure_base_image
  say "point a docker client at it with:"
  how_to_use
}

stop() {
  local pid
  if ! pid=$(running_pid); then
    say "not running (no live dockerd in $pidfile)"
    return
  fi
  [ "$(id -u)" = 0 ] || exec sudo --preserve-env=CAFFESIAM_DOCKER_ROOT bash "$0" stop
  kill -TERM "$pid"
  local waited
  for waited in $(seq 1 30); do
    kill -0 "$pid" 2>/dev/null || { say "stopped dockerd (pid $pid)"; return; }
    sleep 1
  done
  echo "docker-engine: dockerd (pid $pid) still runs ${waited} s after SIGTERM; see $log" >&2
  exit 1
}

status() {
  if running_pid >/dev/null && answers; then
    say "running (pid $(running_pid)), socket $sock"
    how_to_use
  else
    say "not running (root $root)"
    return 3
  fi
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  -h | --help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//' ;;
  *) echo "docker_engine: use start, stop or status (see --help)" >&2; exit 2 ;;
esac
