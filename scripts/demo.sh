#!/usr/bin/env bash
# The main job on the built-in synthetic faces: build (installing what is missing), train the FR
# model with the adaptive hybrid masking policy (about a minute on 2 cores), evaluate it on unseen
# images, and export protected samples with a preview picture.
#   scripts/demo.sh [RUN_DIR]        (default runs/demo-DATE-TIME)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
out="${1:-runs/demo-$(date +%Y%m%d-%H%M%S)}"
build/bin/hymask train --config configs/demo.yaml --out "$out"
build/bin/hymask mask --config configs/demo.yaml mask.method=mixup mask.drop_level=2 \
  --limit 256 --out "$out/protected" --preview "$out/preview.png"
echo "demo: run folder $out (metrics.jsonl, checkpoint.pt, eval.json, preview.png, protected/)"
