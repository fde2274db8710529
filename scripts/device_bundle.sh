#!/usr/bin/env bash
# Packs the CUDA build (scripts/build_cuda.sh) for a GPU machine that has PyTorch and the CUDA
# driver but none of hymask's other libraries: the binaries cluster/device/check.sh runs, and
# every shared library they need that is neither LibTorch's nor CUDA's nor the C library's.
# The `device` tool carries the result (.cache/device-bundle, an ignored folder; its limit is
# 64 MiB) with `carry: [".cache/device-bundle"]`.
#   scripts/device_bundle.sh [--build DIR]    (default build-cuda)
set -euo pipefail
cd "$(dirname "$0")/.."
build=build-cuda
[ "${1:-}" = "--build" ] && build="$2"
bundle=.cache/device-bundle
binaries=(hymask hymask_nn_tests)
for b in "${binaries[@]}"; do
  [ -x "$build/bin/$b" ] || { echo "$build/bin/$b is missing: run scripts/build_cuda.sh" >&2; exit 1; }
done
rm -rf "$bundle" && mkdir -p "$bundle/bin" "$bundle/lib"
for b in "${binaries[@]}"; do
  strip -o "$bundle/bin/$b" "$build/bin/$b"
  # What the loader resolves here, less what the GPU machine has: LibTorch and the NVIDIA
  # libraries it links (its PyTorch; here .cache/torch-cuda), CUDA (its driver and toolkit) and
  # glibc.
  ldd "$build/bin/$b" | awk '$3 ~ /^\// {print $3}' |
    grep -Ev '/torch/lib/|/torch-cuda/|/cuda|libcu|libnv|libc\.so|libm\.so|libdl\.so|libpthread|librt\.so|ld-linux|libgcc_s|libstdc\+\+' |
    while read -r lib; do cp -L -n "$lib" "$bundle/lib/"; done
done
du -sh "$bundle" | awk '{print "device bundle: " $1 " in '"$bundle"' (carry limit 64 MiB)"}'
