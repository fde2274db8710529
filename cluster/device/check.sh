#!/usr/bin/env bash
# The GPU checks of hymask on a lent GPU machine (the `device` tool runs it from the repository
# root), in one call and under 8 minutes. Before the call, here:
#   scripts/build_cuda.sh && scripts/device_bundle.sh     (then carry .cache/device-bundle)
# On the GPU machine it:
#   1. builds tests/gpu_check.cpp with the GPU masking kernels (core/cuda/) using nvcc alone, and
#      runs it: the CUDA block-DCT kernel and the cuFFT spectrum mask against float64
#      references, the whole masking step (GpuMasker) against the CPU Masker, then the kernels'
#      bandwidth against the card's copy bandwidth and the masking step's images/s on both;
#   2. runs the carried CUDA build against the machine's own PyTorch (the same 2.11/CUDA 13.0 it
#      was built for): the device tests (Trainer.CudaTracksTheCpu: the same run on CUDA and on
#      the CPU gives the same losses, checkpoints read back on the CPU; NCCL's all-reduce on
#      the ranks one GPU allows);
#   3. trains IResNet-50 (configs/gpu.yaml) on synthetic faces for two epochs on CUDA and checks
#      that its loss falls; images/s from its own timing;
#   4. times the same model, masking and batch written in PyTorch (bench/gpu_reference.py);
#   5. prints the short table last.
# One GPU allows one NCCL rank, so NCCL's all-reduce between ranks is not exercised here.
#   cluster/device/check.sh [OUT_DIR]     (default: $OUT when set, else /tmp/hymask-device)
set -euo pipefail
cd "$(dirname "$0")/../.."
out="${1:-${OUT:-/tmp/hymask-device}}"
mkdir -p "$out"
command -v nvcc > /dev/null || export PATH="/usr/local/cuda/bin:$PATH"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$out/gpu.txt"
arch=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader | head -1 | tr -d .)

echo "== 1. masking kernels"
start=$(date +%s)
# fmt header-only: the GPU machine has fmt's headers but not its library.
nvcc -O3 -std=c++17 -arch="sm_${arch:-90}" -I. -DFMT_HEADER_ONLY -o "$out/gpu_check" \
  tests/gpu_check.cpp core/cuda/gpu_masking.cu core/masking.cpp core/spectrum.cpp \
  core/block_dct.cpp core/error.cpp -lcufft
echo "built in $(( $(date +%s) - start )) s"
"$out/gpu_check" | tee "$out/gpu_check.txt"

bundle=.cache/device-bundle
if [ ! -x "$bundle/bin/hymask" ]; then
  echo "no CUDA build carried ($bundle): run scripts/build_cuda.sh and scripts/device_bundle.sh" \
    "here, and carry $bundle; steps 2-4 skipped" | tee "$out/summary.txt"
  exit 1
fi
torch_lib=$(python3 -c 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), "lib"))')
export LD_LIBRARY_PATH="$PWD/$bundle/lib:$torch_lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
echo "== 2. device tests (PyTorch $(python3 -c 'import torch; print(torch.__version__)'))"
"$bundle/bin/hymask_nn_tests" \
  --gtest_filter='TrainingDevice.*:Trainer.CudaTracksTheCpu:Trainer.Bf16TracksFp32:NcclCommunicator.*' \
  2>&1 | tee "$out/device_tests.txt" | grep -E '^\[ *(OK|FAILED|SKIPPED|PASSED) |^logged loss' ||
  true  # a failed test is reported in the table below; the checks after it still run
tests_ok=no  # every one passed, none skipped (a skip means no GPU was seen)
grep -q '^\[  PASSED  \]' "$out/device_tests.txt" &&
  ! grep -qE '^\[ *(FAILED|SKIPPED) *\]' "$out/device_tests.txt" && tests_ok=yes

echo "== 3. IResNet-50 on CUDA, synthetic faces"
run="$out/train"
rm -rf "$run"
"$bundle/bin/hymask" train --config configs/gpu.yaml --out "$run" --no-eval data.root= \
  data.split=all data.crop=0 data.synthetic_identities=500 data.synthetic_images_per_identity=20 \
  data.threads=12 train.epochs=2 train.log_every=10 train.checkpoint_every=0 train.device=cuda \
  2>&1 | tee "$out/train.log" | grep -E 'training:|step .*/|finished|error'
read -r first last hymask_ips < <(python3 - "$run" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1] + "/metrics.jsonl")]
timed = rows[len(rows) // 2:]  # the second half: past cuDNN's autotuning and the first fills
ips = sum(r.get("images_per_s", 0) for r in timed) / max(1, len(timed))
print(rows[0]["loss"], rows[-1]["loss"], round(ips))
PY
)
loss_falls=$(python3 -c "print('yes' if $last < 0.8 * $first else 'no')")

echo "== 4. the same model in PyTorch"
python3 bench/gpu_reference.py --batch 128 --steps 30 --warmup 10 --classes 500 | tee "$out/reference.json"
torch_ips=$(python3 -c "import json; print(round(json.load(open('$out/reference.json'))['images_per_second']))")

{
  echo "card: $(cut -d, -f1 "$out/gpu.txt")"
  printf '%-46s %s\n' "check" "result"
  printf '%-46s %s\n' "masking kernels vs float64 (gpu_check)" "$(tail -1 "$out/gpu_check.txt")"
  printf '%-46s %s\n' "device tests (CUDA tracks the CPU)" "$tests_ok"
  printf '%-46s %s\n' "IResNet-50 loss falls (first -> last)" "$loss_falls ($first -> $last)"
  printf '%-46s %s\n' "hymask images/s (loader + masking + step)" "$hymask_ips"
  printf '%-46s %s\n' "PyTorch images/s (step only, data on GPU)" "$torch_ips"
} | tee "$out/summary.txt"
