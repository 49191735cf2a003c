#!/usr/bin/env bash
# One of Caffe's other programs, built on demand against this checkout's installed Caffe (the one
# `make setup` links into .venv, which builds only caffe, libcaffe and pycaffe). Prints the path
# of the executable.
#
#   scripts/caffe_tool.sh NAME [--venv DIR]     e.g. convert_mnist_siamese_data, convert_imageset
#
# NAME is a tools/NAME.cpp or examples/*/NAME.cpp of the installed Caffe's source. The build (tens
# of seconds the first time) is kept in build/caffe-tool/<build key>/ and reused.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cd "$here/.."
# shellcheck source=install_caffe.sh
. scripts/install_caffe.sh
prog=caffe_tool
tool_error() { echo "caffe_tool: $*" >&2; exit 2; }

[ $# -ge 1 ] && [[ $1 =~ ^[A-Za-z0-9_]+$ ]] || tool_error "give the name of a Caffe tool or example, e.g. convert_mnist_siamese_data"
name=$1
shift
venv_arg=.venv
if [ "${1:-}" = --venv ]; then
  [ $# -ge 2 ] || tool_error "--venv needs a value"
  venv_arg=$2
  shift 2
fi
[ $# = 0 ] || tool_error "unknown argument '$1'"
require_installed_build "$venv_arg"
source_file=$(find "$prefix/src/tools" "$prefix/src/examples" -name "$name.cpp" -print -quit 2>/dev/null)
[ -n "$source_file" ] || tool_error "Caffe's source has no tools/$name.cpp or examples/*/$name.cpp"

work=$PWD/build/caffe-tool/$key/$name
if [ ! -x "$work/$name" ]; then
  build_tool() {
    configure "$here/caffe_tool" "$work" -DCMAKE_BUILD_TYPE=Release \
      "-DCaffe_DIR=$prefix/share/Caffe" "-DCAFFE_TOOL_SOURCES=$source_file"
    make -C "$work" -j"$jobs"
  }
  mkdir -p "$work"
  step "build Caffe's $name against $prefix" build_tool >&2
fi
echo "$work/$name"
