#!/usr/bin/env bash
# The CUDA build of hymask, here or on any machine with the CUDA toolkit (nvcc 13), whether or
# not it has a GPU: LibTorch with CUDA from the PyPI torch wheel (pinned to what the GPU machines
# run: PyTorch 2.11 with CUDA 13.0), unpacked without pip's dependencies (the CUDA libraries
# come from the toolkit). Checks that every target, CUDA ones included, compiles and links.
#
#   scripts/build_cuda.sh [--torch DIR] [--build DIR]
#     --torch DIR  a LibTorch with CUDA (DIR/share/cmake/Torch), e.g. a GPU machine's
#                  $(python3 -c 'import torch,os;print(os.path.dirname(torch.__file__))');
#                  default: the pinned wheel, downloaded once into .cache/torch-cuda
#     --build DIR  build folder (default build-cuda)
# Needs what scripts/setup.sh installs, plus nvcc. Takes ~25 minutes on 2 cores from scratch.
set -euo pipefail
cd "$(dirname "$0")/.."
torch_version=2.11.0
torch="" build=build-cuda
while [ $# -gt 0 ]; do
  case "$1" in
    --torch) torch="$2"; torch_given=1; shift 2 ;;
    --build) build="$2"; shift 2 ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
command -v nvcc > /dev/null || export PATH="/usr/local/cuda/bin:$PATH"
command -v nvcc > /dev/null || { echo "nvcc not found: install the CUDA toolkit" >&2; exit 1; }
if [ -z "$torch" ]; then
  cache=.cache/torch-cuda
  torch="$cache/torch"
  if [ ! -f "$torch/share/cmake/Torch/TorchConfig.cmake" ]; then
    mkdir -p "$cache"
    echo "downloading torch $torch_version (CUDA 13.0, ~530 MB) from PyPI"
    python3 -m pip download --quiet --no-deps --dest "$cache" \
      --only-binary=:all: --platform manylinux_2_28_x86_64 "torch==$torch_version"
    wheel=$(ls "$cache"/torch-"$torch_version"-*.whl | head -1)
    python3 -m zipfile -e "$wheel" "$cache/unpacked"
    mv "$cache/unpacked/torch" "$torch"
    rm -rf "$cache/unpacked" "$wheel"
  fi
fi
if [ -z "${torch_given:-}" ]; then
  # Three libraries LibTorch links that the CUDA toolkit does not ship (the GPU machines' PyTorch
  # has them): only for the linker here.
  extra=.cache/torch-cuda/nvidia-lib
  if [ ! -e "$extra/libcufile.so.0" ]; then
    mkdir -p "$extra" .cache/torch-cuda/wheels
    python3 -m pip download --quiet --no-deps --dest .cache/torch-cuda/wheels \
      "nvidia-cufile==1.15.1.6" "nvidia-cusparselt-cu13==0.8.0" "nvidia-nvshmem-cu13==3.4.5"
    for wheel in .cache/torch-cuda/wheels/*.whl; do
      python3 - "$wheel" "$extra" <<'PY'
import os, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z:
    for name in z.namelist():
        if "/lib/" in name and ".so" in os.path.basename(name):
            with open(os.path.join(sys.argv[2], os.path.basename(name)), "wb") as f:
                f.write(z.read(name))
PY
    done
    rm -rf .cache/torch-cuda/wheels
  fi
  export LD_LIBRARY_PATH="$PWD/$extra${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fi
[ -f "$torch/share/cmake/Torch/TorchConfig.cmake" ] ||
  { echo "$torch holds no LibTorch (share/cmake/Torch/TorchConfig.cmake)" >&2; exit 1; }
torch=$(cd "$torch" && pwd)
# Portable CPU code (no -march=native): the binaries run on the GPU machines' CPUs too
# (scripts/device_bundle.sh). The system's protobuf headers, not the copy inside LibTorch.
mkdir -p "$build"
cmake -S . -B "$build" -DCMAKE_PREFIX_PATH="$torch" -DTORCH_CUDA_ARCH_LIST="8.0;9.0" \
  -DHYMASK_NATIVE=OFF -DHYMASK_BUILD_BENCH=OFF -DProtobuf_INCLUDE_DIR=/usr/include \
  > "$build/configure.log" 2>&1 ||
  { tail -30 "$build/configure.log"; exit 1; }
grep -q "CUDA detected" "$build/configure.log" ||
  { echo "LibTorch in $torch has no CUDA" >&2; exit 1; }
start=$(date +%s)
cmake --build "$build" -j"$(nproc)"
echo "CUDA build in $build: every target linked in $(( $(date +%s) - start )) s (LibTorch $torch)"
