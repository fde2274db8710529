#!/usr/bin/env bash
# Training images/s with 1 and 2 ranks on this machine, same per-rank batch and work: the demo
# config (synthetic faces, method mask so every step costs the same) for 80 steps, timing steps
# 21-80 (after warm-up). 1 rank uses 2 tensor threads, 2 ranks 1 each: both fill 2 cores.
#   bench/dp_throughput.sh [BUILD_BIN_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
bin="${1:-build/bin}"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
args=(--config configs/demo.yaml --no-eval mask.method=mask train.stop_after=80 train.log_every=20
      train.checkpoint_every=0 data.threads=1)
rate() {  # mean images/s over the logged windows after the first
  grep -o '| [0-9]* img/s' "$1" | awk 'NR > 1 { s += $2; n++ } END { printf "%.0f", s / n }'
}
"$bin/hymask" train --out "$work/one" "${args[@]}" train.threads=2 > "$work/one.log" 2>&1
mpirun -np 2 "$bin/hymask-worker" --out "$work/two" "${args[@]}" train.threads=1 \
  > "$work/two.log" 2>&1
one=$(rate "$work/one.log")
two=$(rate "$work/two.log")
echo "resnet-s, 63 x 14 x 14 input, batch 64 per rank, 2 cores"
echo "1 rank : $one images/s"
echo "2 ranks: $two images/s ($(awk -v a="$two" -v b="$one" 'BEGIN { printf "%.2f", a / b }')x)"
