#!/usr/bin/env bash
# The Debian packages that hold the shared libraries which the programs and libraries under
# PATH... load (ldd), one a line: what an image's runtime stage installs (no -dev packages).
#
#   scripts/runtime_packages.sh PATH...
set -euo pipefail

# dpkg knows a file by the path its package ships it at: /lib/... or /usr/lib/... (merged /usr).
owner() {
  local real
  real=$(readlink -f "$1")
  dpkg -S "$real" 2>/dev/null || dpkg -S "${real#/usr}" 2>/dev/null || dpkg -S "/usr$real" 2>/dev/null || true
}

# ldd fails on the scripts among the executables; what it says of the others is what counts.
loaded() {
  find "$@" -type f \( -name '*.so' -o -name '*.so.*' -o -perm -u+x \) -print0 \
    | xargs -0 -r ldd 2>/dev/null || true
}

loaded "$@" | awk '$2 == "=>" && $3 ~ /^\// { print $3 }' | sort -u \
  | while read -r lib; do owner "$lib"; done | cut -d: -f1 | sort -u
