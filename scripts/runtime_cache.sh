#!/usr/bin/env bash
# Reduces a Caffe cache to what its builds load at run time: an image's copy of the cache.
#
#   scripts/runtime_cache.sh CACHE
#
# Removes the downloads, logs and locks. Of the CUDA toolkits (CACHE/cuda: the fetched wheels,
# Debian's compiler, the assembled views) keeps only the shared libraries in the views' lib64/,
# which the builds' rpath names (the CUDA runtime, cuBLAS, cuRAND, cuDNN with the sub-libraries
# it opens itself, NCCL), and the files those links lead to. The compiler, pip, headers, static
# libraries and link stubs go.
set -euo pipefail
export LC_ALL=C
cache=${1:?usage: runtime_cache.sh CACHE}
[ -d "$cache" ] || { echo "runtime_cache: no such folder: $cache" >&2; exit 2; }

rm -rf "$cache/downloads" "$cache/logs" "$cache/locks"
cuda=$cache/cuda
[ -d "$cuda" ] || exit 0
keep=$(mktemp)
for link in "$cuda"/view-*/lib64/lib*.so*; do
  if [ -e "$link" ]; then printf '%s\n%s\n' "$link" "$(readlink -f "$link")"; fi
done | sort -u >"$keep"
find "$cuda" \( -type f -o -type l \) -not -path '*/view-*/lib' | sort | comm -23 - "$keep" \
  | tr '\n' '\0' | xargs -0 -r rm -f
rm -f "$keep"
find "$cuda" -depth -type d -empty -delete
