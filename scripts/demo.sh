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
mkdir -p "$out"
# A fresh shared secret for this run, readable by this user only.
(umask 077 && head -c 32 /dev/urandom | base64 > "$out/secret")
export HYMASK_SECRET_FILE="$(cd "$out" && pwd)/secret"

build/bin/hymask-coordinator --config configs/demo.yaml > "$out/coordinator.log" 2>&1 &
coordinator=$!
trap 'kill $coordinator 2>/dev/null || true' EXIT
for _ in $(seq 50); do build/bin/hymask status > /dev/null 2>&1 && break; sleep 0.2; done
build/bin/hymask status > /dev/null || { cat "$out/coordinator.log"; exit 1; }
echo "demo: coordinator up; console at http://127.0.0.1:7778/ (or build/bin/hymask status --watch)"

mpirun_args=(-np 2 --oversubscribe)
[ "$(id -u)" -eq 0 ] && mpirun_args+=(--allow-run-as-root)
mpirun "${mpirun_args[@]}" build/bin/hymask-worker --config configs/demo.yaml --out "$out" \
  coordinator.address=127.0.0.1:7777 train.threads=1

echo; echo "coordinator at the end:"
build/bin/hymask status
build/bin/hymask mask --config configs/demo.yaml mask.method=mixup mask.drop_level=2 \
  --limit 256 --out "$out/protected" --preview "$out/preview.png"
echo "demo: run folder $out (metrics.jsonl, checkpoint.pt, eval.json, coordinator.log, preview.png)"
