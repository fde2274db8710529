#!/usr/bin/env bash
# The loader's images/s per core from InsightFace RecordIO against the image folder it was packed
# from (all 13,233 LFW images, configs/lfw.yaml's preprocessing: grey, centre 150 crop, 112 px,
# block-DCT masking with MixUp k = 2). Run on an otherwise idle machine.
#   bench/loader_throughput.sh [BUILD_BIN_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
bin="${1:-build/bin}"
lfw=../shared/data/lfw/lfw-deepfunneled
[ -d "$lfw" ] || { echo "skipped: needs $lfw"; exit 0; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$bin/hymask" pack --data "$lfw" --out "$work/lfw" 2>&1 | tail -1
common=(--config configs/lfw.yaml --images 3000 --threads 2 mask.method=mixup mask.k=2)
# The same images, first from the page cache (a warm pass each), then measured.
"$bin/bench_loader" --data "$lfw" --format folder "${common[@]}"
"$bin/bench_loader" --data "$work/lfw" --format recordio "${common[@]}" | tail -2
