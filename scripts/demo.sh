#!/usr/bin/env bash
# The main job on the built-in synthetic faces: build (installing what is missing), then run the
# distributed system on this machine: hymask-coordinator, which trains the masking policy, and two
# hymask-worker ranks under mpirun, which train the FR model on their shards with the adaptive
# hybrid masking, report their rewards and adopt each new policy. The status console is at
# http://127.0.0.1:7778/ while it runs (or: build/bin/hymask status --watch). Ends with the
# workers' evaluation, the coordinator's final state, and exported protected samples with a preview.
#   scripts/demo.sh [RUN_DIR]        (default runs/demo-DATE-TIME)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
out="${1:-runs/demo-$(date +%Y%m%d-%H%M%S)}"
echo "demo: console at http://127.0.0.1:7778/ while it runs (or: build/bin/hymask status --watch)"
cluster/launch.sh --config configs/demo.yaml --out "$out" -n 2 --tls train.threads=1

echo; echo "coordinator at the end (its log: $out/coordinator.log):"
tail -1 "$out/coordinator.log"
# The run's own protected samples: its config, and each batch's action drawn from its trained policy.
build/bin/hymask mask --checkpoint "$out/checkpoint.pt" --limit 256 --out "$out/protected" \
  --preview "$out/preview.png"
echo "demo: run folder $out (metrics.jsonl, checkpoint.pt, eval.json, coordinator.log, preview.png)"
