#!/usr/bin/env bash
# Prints the path of PyPI's cuobjdump (CUDA 13; it reads CUDA 12's device code as well), fetched
# into the Caffe cache once (cuda/cuobjdump-13): for the checks of a GPU build whose toolkit has
# none (CUDA 13.0, an image). Progress goes to stderr.
#
#   scripts/cuobjdump.sh
set -euo pipefail
# The install script's own functions (wheel installs into the cache), without running it.
# shellcheck source=install_caffe.sh
. "$(dirname "${BASH_SOURCE[0]}")/install_caffe.sh"
parse_args --gpu
prog=cuobjdump
mkdir -p "$cache/cuda"
tool=$cache/cuda/cuobjdump-13
if [ ! -x "$tool/nvidia/cu13/bin/cuobjdump" ]; then
  step "cuobjdump from PyPI" install_wheels "$tool" "$cuda13_cuobjdump_wheel" >&2
fi
echo "$tool/nvidia/cu13/bin/cuobjdump"
