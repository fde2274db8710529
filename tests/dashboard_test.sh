#!/usr/bin/env bash
# The coordinator's dashboard in a real headless browser (Chromium): with a worker training
# against the coordinator, the page must list the worker as connected, show the policy, and
# update (the worker's step grows between two loads).
# Usage: dashboard_test.sh BUILD_BIN_DIR
set -euo pipefail
bin="$1"
browser=$(command -v chromium || command -v chromium-browser || true)
[ -n "$browser" ] || { echo "chromium not found: skipped"; exit 0; }
work=$(mktemp -d)
pids=()
# The trainer checkpoints on SIGTERM: wait for it to finish writing before removing its folder.
trap 'kill "${pids[@]}" 2>/dev/null || true; wait "${pids[@]}" 2>/dev/null || true; rm -rf "$work"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
(umask 077 && head -c 32 /dev/urandom | base64 > "$work/secret")
export HYMASK_SECRET_FILE="$work/secret"
port=$(( 20000 + RANDOM % 20000 ))
config=(data.synthetic_identities=8 data.synthetic_images_per_identity=8 data.image_size=32
        train.batch_size=8 train.epochs=500 model.embedding=32 model.scale=16 model.margin=0.2
        mask.method=adaptive policy.update_every=2 coordinator.broadcast_every=4 train.log_every=5
        train.checkpoint_every=0 train.threads=1)
"$bin/hymask-coordinator" --listen "127.0.0.1:$port" --console "127.0.0.1:$((port + 1))" \
  --state "$work/state" "${config[@]}" > "$work/coordinator.log" 2>&1 &
pids+=($!)
"$bin/hymask" train --out "$work/run" --no-eval "${config[@]}" \
  "coordinator.address=127.0.0.1:$port" > "$work/worker.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do
  "$bin/hymask" status --coordinator "127.0.0.1:$((port + 1))" 2>/dev/null | grep -q connected && break
  sleep 0.2
done
"$bin/hymask" status --coordinator "127.0.0.1:$((port + 1))" | grep -q connected ||
  fail "the worker never connected: $(tail -3 "$work/worker.log")"

load() {  # the page's DOM after its scripts ran
  "$browser" --headless --no-sandbox --disable-gpu --no-first-run --user-data-dir="$work/profile" \
    --virtual-time-budget=3000 --dump-dom "http://127.0.0.1:$((port + 1))/" 2>/dev/null
}
first=$(load)
echo "$first" | grep -q 'class="connected">connected' || fail "no connected worker on the page"
echo "$first" | grep -qE 'policy v[0-9]+' || fail "no policy version on the page"
step1=$(echo "$first" | grep -o 'connected</td><td>[0-9]*' | grep -o '[0-9]*$')
sleep 3
step2=$(load | grep -o 'connected</td><td>[0-9]*' | grep -o '[0-9]*$')
[ "$step2" -gt "$step1" ] || fail "the page did not update (step $step1 then $step2)"
echo "dashboard: worker connected, step $step1 -> $step2"
