#!/usr/bin/env bash
# The GPU checks of hymask on a lent GPU machine (the `device` tool runs it from the repository
# root), in one call and well under 8 minutes:
#   1. builds tests/gpu_check.cpp with the GPU masking kernels (core/cuda/) using nvcc alone (the
#      machine has the CUDA toolkit and PyTorch, not this project's other dependencies);
#   2. runs it: the CUDA block-DCT kernel and the cuFFT spectrum mask against float64 references,
#      then their timings against the card's copy bandwidth;
#   3. prints the short table last.
# Not yet here (see issue 9's note): NCCL all-reduce and a training run on CUDA tensors, which
# need the full build (LibTorch from the machine's PyTorch plus the carried dependencies).
#   cluster/device/check.sh [OUT_DIR]     (default: $OUT when set, else /tmp/hymask-device)
set -euo pipefail
cd "$(dirname "$0")/../.."
out="${1:-${OUT:-/tmp/hymask-device}}"
mkdir -p "$out"
command -v nvcc > /dev/null || export PATH="/usr/local/cuda/bin:$PATH"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$out/gpu.txt"
arch=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader | head -1 | tr -d .)
start=$(date +%s)
nvcc -O3 -std=c++17 -arch="sm_${arch:-90}" -I. -o "$out/gpu_check" \
  tests/gpu_check.cpp core/cuda/gpu_masking.cu core/block_dct.cpp core/error.cpp -lcufft
echo "built in $(( $(date +%s) - start )) s"
"$out/gpu_check" | tee "$out/gpu_check.txt"
