#!/usr/bin/env bash
# Caffe's CPU compile three ways, from the same source and patches, one after another:
#   all      every target Caffe's CMake builds by default (its tools and example converters too)
#   lean     only the caffe tool, libcaffe and pycaffe (scripts/patches/targets/)
#   unity    lean as a CMake unity build: what `make setup` compiles
# For each: CPU seconds (user+sys of make and the compilers) and wall seconds, and the ratios to
# `all`. CPU time barely depends on what else the machine runs; wall time does.
#
#   bench/bench_caffe_compile.sh [JOBS]      (default: all cores; needs `make setup` first)
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
# shellcheck source=../scripts/install_caffe.sh
. scripts/install_caffe.sh
prog=bench_caffe_compile
parse_args --venv .venv --skip-system-packages
jobs=${1:-$jobs}
[[ $jobs =~ ^[1-9][0-9]*$ ]] || usage_error "JOBS must be a positive number, got '$jobs'"
resolve_source
py=$venv/bin/python
work=$(mktemp -d /var/tmp/caffesiam-compile-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT

unpack_source "$src" "$work/all"
all=$(cat "$work/all.root")
while read -r patch; do
  case "$patch" in */patches/targets/*) ;; *) patch -s -d "$all" -p1 -N -i "$patch" ;; esac
done < <(selected_patches)
cp -r "$all" "$work/lean-src"
for patch in scripts/patches/targets/*.patch; do patch -s -d "$work/lean-src" -p1 -N -i "$repo/$patch"; done

mapfile -t flags < <(cmake_flags "$py" "$work/prefix" | grep -v '^-DCMAKE_UNITY_BUILD=')
compile() {  # NAME SOURCE [EXTRA CMAKE FLAGS...]
  local name=$1 source=$2 TIMEFORMAT='%R %U %S' times
  shift 2
  mkdir -p "$work/build-$name"
  configure "$source" "$work/build-$name" "${flags[@]}" "$@" >"$work/$name.configure.log" 2>&1
  times=$( { time make -C "$work/build-$name" -j"$jobs" >"$work/$name.log" 2>&1; } 2>&1 )
  read -r wall[$name] user sys <<<"$times"
  cpu[$name]=$(awk -v u="$user" -v s="$sys" 'BEGIN { print u + s }')
  echo "$name: built $(find "$work/build-$name/tools" "$work/build-$name/examples" -type f -perm -u+x | wc -l) programs besides libcaffe and pycaffe"
}
declare -A cpu wall
echo "Caffe compile, make -j$jobs, $(nproc) cores; load average at the start $(cut -d' ' -f1-3 /proc/loadavg)"
compile all "$all"
compile lean "$work/lean-src"
compile unity "$work/lean-src" -DCMAKE_UNITY_BUILD=ON
printf '%-6s %9s %9s %9s %9s\n' build "CPU s" "/ all" "wall s" "/ all"
for name in all lean unity; do
  awk -v n="$name" -v c="${cpu[$name]}" -v ca="${cpu[all]}" -v w="${wall[$name]}" -v wa="${wall[all]}" \
    'BEGIN { printf "%-6s %9.1f %9.2f %9.1f %9.2f\n", n, c, c / ca, w, w / wa }'
done
