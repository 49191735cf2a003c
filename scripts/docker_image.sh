#!/usr/bin/env bash
# make docker-cpu / docker-gpu: the runtime images caffesiam:cpu and caffesiam:gpu, built from
# this repository's docker/Dockerfile.
#
#   scripts/docker_image.sh cpu|gpu [docker build options...]
#
# gpu: install_caffe.sh --gpu, with CUDA ${CAFFESIAM_CUDA:-12} and the SASS architectures of
# $CAFFESIAM_CUDA_ARCH (install_caffe.sh's variables; default its full list), e.g.
#   CAFFESIAM_CUDA_ARCH=90 make docker-gpu
#
# The builder stages reach the registries the way this machine does: its CA certificates, apt
# sources and settings, pip configuration and pip/proxy variables are staged into .docker-build/
# (git-ignored, inside the build context) and copied into the builder stages only. The final
# image is one layer copied from a stage where they were removed, so no layer of it holds them.
# The docker client is $DOCKER (default docker); without buildx it uses the classic builder.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
kind=${1:-}
case "$kind" in
  cpu|gpu) shift ;;
  *) echo "docker_image: use cpu or gpu (then docker build options)" >&2; exit 2 ;;
esac
docker_client=${DOCKER:-docker}
# shellcheck source=debian_root.sh
. "$repo/scripts/debian_root.sh"

stage=$repo/.docker-build
rm -rf "$stage"
mkdir -p "$stage/apt" "$stage/pip/root/.config/pip" "$stage/pip/etc"

# Into the runtime stage too (for its apt-get install): apt's sources, settings and credentials.
apt_files=()
while read -r f; do apt_files+=("${f#/}"); done < <(host_apt_options)
for f in /etc/apt/apt.conf /etc/apt/apt.conf.d/*; do
  if [ -f "$f" ]; then apt_files+=("${f#/}"); fi
done
mapfile -t client_files < <(host_client_files)
pip_files=()
for f in "${client_files[@]}"; do
  case "$f" in
    etc/pip.conf|etc/xdg/pip) pip_files+=("$f") ;;
    *) apt_files+=("$f") ;;
  esac
done
tar -C / -chf - "${apt_files[@]}" | tar -xf - -C "$stage/apt"
if [ ${#pip_files[@]} != 0 ]; then tar -C / -chf - "${pip_files[@]}" | tar -xf - -C "$stage/pip"; fi
for f in "${PIP_CONFIG_FILE:-}" "$HOME/.config/pip/pip.conf" "$HOME/.pip/pip.conf"; do
  if [ -n "$f" ] && [ -f "$f" ]; then cp "$f" "$stage/pip/root/.config/pip/pip.conf"; break; fi
done
# The variables, sourced by the builder's RUN steps (`set -a; . /etc/caffesiam-build.env`).
while IFS='=' read -r name value; do
  [ "$name" = PIP_CONFIG_FILE ] || printf '%s=%q\n' "$name" "$value"
done < <(host_client_env) >"$stage/pip/etc/caffesiam-build.env"

kind_args=()
if [ "$kind" = gpu ]; then
  kind_args=(--build-arg CAFFE_FLAGS=--gpu --build-arg "CAFFESIAM_CUDA=${CAFFESIAM_CUDA:-12}"
             --build-arg "CAFFESIAM_CUDA_ARCH=${CAFFESIAM_CUDA_ARCH:-}")
fi

if ! "$docker_client" buildx version >/dev/null 2>&1; then export DOCKER_BUILDKIT=0; fi
start=$(date +%s)
"$docker_client" build --network host -f "$repo/docker/Dockerfile" \
  -t "caffesiam:$kind" "${kind_args[@]}" "$@" "$repo"
echo "docker_image: built caffesiam:$kind in $(( $(date +%s) - start )) s," \
  "$("$docker_client" image inspect -f '{{.Size}}' "caffesiam:$kind" | awk '{ printf "%.0f MB", $1 / 1e6 }')"
