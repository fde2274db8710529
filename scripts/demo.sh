#!/usr/bin/env bash
# The main job on the built-in synthetic faces: build (installing what is missing), synthesise a
# dataset, mask it, export the protected samples and a preview picture.
#   scripts/demo.sh [OUT_DIR]        (default runs/demo)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
out="${1:-runs/demo}"
mkdir -p "$out"
build/bin/hymask synth --out "$out/faces" --identities 20 --images 10
build/bin/hymask mask --config configs/demo.yaml --data "$out/faces" --out "$out/protected" \
  --preview "$out/preview.png"
echo "demo: protected samples in $out/protected, preview in $out/preview.png"
