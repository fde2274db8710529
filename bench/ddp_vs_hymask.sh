#!/usr/bin/env bash
# hymask against PyTorch DistributedDataParallel on the same work (bench/ddp_reference.py says
# what that is): LFW-disjoint-5 images decoded, masked (block DCT u = 1, frequency MixUp k = 2)
# and trained on with resnet-s + ArcFace, batch 64 per rank, with 1 and 2 ranks on this machine.
# Both use the same threads: 1 rank = 2 tensor threads + 2 loader workers, 2 ranks = 1 + 1 each.
# In float32, then in bfloat16 (hymask train.precision=bf16; PyTorch: CPU autocast of the backbone).
# Timed: steps 11-50 (hymask: its logged windows after the first). PyTorch runs twice: as
# installed, and with glibc's allocator set as hymask sets its own (freed memory kept in the
# heap; worker/trainer.cpp), so that the allocator's share of the difference shows. Prints a
# Markdown table and each side's per-stage breakdown (ms per step). Needs ../shared/data/lfw
# and python3-torch.
#   bench/ddp_vs_hymask.sh [BUILD_BIN_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
bin="${1:-build/bin}"
[ -d ../shared/data/lfw ] || { echo "needs ../shared/data/lfw"; exit 1; }
/usr/bin/python3 -c "import torch, PIL" 2>/dev/null ||
  { echo "needs Debian's python3-torch and python3-pil (the PyTorch of libtorch-dev)"; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
args=(--config configs/lfw.yaml mask.method=mixup mask.k=2 train.stop_after=50 train.log_every=10
      train.checkpoint_every=0 data.prefetch=8)
rate() { grep -o '| [0-9]* img/s' "$1" | awk 'NR > 1 { s += $2; n++ } END { printf "%.0f", s / n }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2fx", a / b }'; }
json_rate() { /usr/bin/python3 -c "import json;print(round(json.load(open('$1'))['images_per_s']))"; }
kept_heap=glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=1073741824

echo "| precision | ranks | hymask images/s | PyTorch DDP images/s | hymask / DDP |" \
  "DDP, hymask's allocator settings | hymask / that |"
echo "| --- | --- | --- | --- | --- | --- | --- |"
for precision in fp32 bf16; do
  prec=(train.precision=$precision)
  "$bin/hymask" train --out "$work/h1-$precision" "${args[@]}" "${prec[@]}" train.threads=2 \
    data.threads=2 > "$work/h1-$precision.log" 2>&1
  mpirun -np 2 "$bin/hymask-worker" --out "$work/h2-$precision" "${args[@]}" "${prec[@]}" \
    train.threads=1 data.threads=1 > "$work/h2-$precision.log" 2>&1
  for ranks in 1 2; do
    /usr/bin/python3 bench/ddp_reference.py --ranks $ranks --steps 40 --warmup 10 \
      --precision $precision > "$work/p$ranks-$precision.json"
    GLIBC_TUNABLES=$kept_heap /usr/bin/python3 bench/ddp_reference.py --ranks $ranks --steps 40 \
      --warmup 10 --precision $precision > "$work/k$ranks-$precision.json"
    h=$(rate "$work/h$ranks-$precision.log")
    p=$(json_rate "$work/p$ranks-$precision.json")
    k=$(json_rate "$work/k$ranks-$precision.json")
    echo "| $precision | $ranks | $h | $p | $(ratio "$h" "$p") | $k | $(ratio "$h" "$k") |"
  done
done
echo
for precision in fp32 bf16; do
  for ranks in 1 2; do
    echo "hymask $ranks rank(s) $precision stages: $(tr -d '\n ' < "$work/h$ranks-$precision/stages.json")"
    echo "pytorch $ranks rank(s) $precision: $(cat "$work/p$ranks-$precision.json")"
  done
done
