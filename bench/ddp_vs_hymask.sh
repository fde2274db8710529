#!/usr/bin/env bash
# hymask against PyTorch DistributedDataParallel on the same work (bench/ddp_reference.py says
# what that is): LFW-disjoint-5 images decoded, masked (block DCT u = 1, frequency MixUp k = 2)
# and trained on with resnet-s + ArcFace, batch 64 per rank, with 1 and 2 ranks on this machine.
# Both use the same threads: 1 rank = 2 tensor threads + 2 loader workers, 2 ranks = 1 + 1 each.
# Timed: steps 11-50 (hymask: its logged windows after the first). Prints a Markdown table and
# each side's per-stage breakdown (ms per step). Needs ../shared/data/lfw and python3-torch.
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

"$bin/hymask" train --out "$work/h1" "${args[@]}" train.threads=2 data.threads=2 > "$work/h1.log" 2>&1
mpirun -np 2 "$bin/hymask-worker" --out "$work/h2" "${args[@]}" train.threads=1 data.threads=1 \
  > "$work/h2.log" 2>&1
/usr/bin/python3 bench/ddp_reference.py --ranks 1 --steps 40 --warmup 10 > "$work/p1.json"
/usr/bin/python3 bench/ddp_reference.py --ranks 2 --steps 40 --warmup 10 > "$work/p2.json"

h1=$(rate "$work/h1.log"); h2=$(rate "$work/h2.log")
p1=$(/usr/bin/python3 -c "import json;print(round(json.load(open('$work/p1.json'))['images_per_s']))")
p2=$(/usr/bin/python3 -c "import json;print(round(json.load(open('$work/p2.json'))['images_per_s']))")
echo "| ranks | hymask images/s | PyTorch DDP images/s | hymask / DDP |"
echo "| --- | --- | --- | --- |"
echo "| 1 | $h1 | $p1 | $(awk -v a="$h1" -v b="$p1" 'BEGIN { printf "%.2fx", a / b }') |"
echo "| 2 | $h2 | $p2 | $(awk -v a="$h2" -v b="$p2" 'BEGIN { printf "%.2fx", a / b }') |"
echo
for side in h1 h2; do echo "hymask $side stages: $(cat "$work/$side/stages.json" | tr -d '\n ')"; done
for side in p1 p2; do echo "pytorch $side: $(cat "$work/$side.json")"; done
