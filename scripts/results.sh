#!/usr/bin/env bash
# Trains and evaluates every method on a protocol with the same budget, and prints a Markdown
# table of the results (docs/RESULTS.md). Needs ../shared/data.
#   scripts/results.sh orl [RUNS_DIR]     ORL-id: none, mask, instahide, mixup k=2/4, adaptive
#   scripts/results.sh lfw [RUNS_DIR]     LFW-disjoint-5: none, mask, adaptive
set -euo pipefail
cd "$(dirname "$0")/.."
protocol="${1:?usage: scripts/results.sh orl|lfw [RUNS_DIR]}"
runs="${2:-runs/results}"
case "$protocol" in
  orl) methods=("none" "mask" "instahide mask.k=4 mask.weights=gaussian mask.weight_cap=0.65"
                "mixup mask.k=2" "mixup mask.k=4" "adaptive") ;;
  lfw) methods=("none" "mask" "adaptive") ;;
  *) echo "unknown protocol $protocol (orl or lfw)" >&2; exit 2 ;;
esac
# Run a copy, so that rebuilding during the (long) runs cannot change the binary under them.
mkdir -p "$runs"
bin="$runs/hymask-$protocol"
cp build/bin/hymask "$bin"
for m in "${methods[@]}"; do
  read -r method extra <<< "$m"
  name="$protocol-$method$(echo "$extra" | grep -o 'mask.k=[0-9]*' | sed 's/mask.k=/-k/' || true)"
  dir="$runs/$name"
  if [ -f "$dir/eval.json" ]; then echo "$name: done already"; continue; fi
  rm -rf "$dir"
  start=$(date +%s)
  # shellcheck disable=SC2086
  "$bin" train --config "configs/$protocol.yaml" --out "$dir" mask.method="$method" $extra \
    > "$dir.log" 2>&1 || { echo "$name failed: see $dir.log"; exit 1; }
  echo "$name: $(( $(date +%s) - start )) s: $(tail -1 "$dir.log" | sed 's/.*evaluation: //')"
done
echo
echo "| run | result |"
echo "| --- | --- |"
for f in "$runs"/"$protocol"-*/eval.json; do
  python3 - "$f" <<'PY'
import json, sys, os
r = json.load(open(sys.argv[1]))
name = os.path.basename(os.path.dirname(sys.argv[1]))
if r["protocol"] == "lfw-disjoint-5":
    print(f"| {name} | {100*r['accuracy_mean']:.2f} +- {100*r['accuracy_std']:.2f} % "
          f"(AUC {r['auc']:.4f}, TAR@FAR=1e-2 {100*r['tar_at_far']:.2f} %) |")
else:
    print(f"| {name} | top-1 {100*r['top1']:.2f} % |")
PY
done
