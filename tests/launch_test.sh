#!/usr/bin/env bash
# cluster/launch.sh as a user runs it: the coordinator and 2 mpirun workers; SIGHUP (the terminal
# closed) stops them all with a checkpoint, as SIGTERM and Ctrl-C do, and the same command resumes
# the run to the end. With --tls, as a user who wants the control plane encrypted runs it. While
# it runs, a second launch into its run folder is refused, and a launch onto its port fails at
# once with the coordinator's own error instead of talking to the first job's coordinator.
#   tests/launch_test.sh BIN_DIR
set -euo pipefail
bin="$(cd "$1" && pwd)"
repo="$(cd "$(dirname "$0")/.." && pwd)"
command -v mpirun > /dev/null || { echo "mpirun not found: skipped"; exit 0; }
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*"; tail -n 20 "$work"/*.log "$work/run/coordinator.log"; exit 1; }
cd "$repo"
port=$(( 40000 + RANDOM % 10000 ))
args=(--config configs/demo.yaml --out "$work/run" -n 2 --port "$port" --tls
      data.synthetic_identities=12 data.synthetic_images_per_identity=10 data.image_size=32
      train.batch_size=16 train.epochs=60 train.log_every=2 train.threads=1
      coordinator.broadcast_every=2)

HYMASK_BIN="$bin" cluster/launch.sh "${args[@]}" > "$work/first.log" 2>&1 &
launcher=$!
for _ in $(seq 360); do  # up to 3 min: a loaded machine starts mpirun slowly
  # After step 8 every worker has reported rewards and the coordinator has updated the policy.
  grep -qE '"step":12[,}]' "$work/run/metrics.jsonl" 2>/dev/null && break
  sleep 0.5
done
# One run folder, one job.
set +e
out=$(HYMASK_BIN="$bin" cluster/launch.sh "${args[@]/$port/$((port + 2))}" 2>&1); code=$?
set -e
[ $code -ne 0 ] && echo "$out" | grep -q "is in use by another launch (launch.sh pid $launcher" ||
  fail "a second launch into the same run folder: exit $code: $out"
# The port is taken: this launch's coordinator fails to start, and the launch says so.
set +e
other=("${args[@]}")
other[3]="$work/other"
out=$(HYMASK_BIN="$bin" timeout 60 cluster/launch.sh "${other[@]}" 2>&1); code=$?
set -e
[ $code -eq 1 ] && echo "$out" | grep -q "coordinator failed to start" &&
  echo "$out" | grep -q "cannot listen on 127.0.0.1:$port" ||
  fail "a launch onto a taken port: exit $code: $out"
[ -f "$work/other/finished.json" ] && fail "the launch onto a taken port trained"
sent=$(date +%s.%N)
kill -HUP $launcher
status=0
wait $launcher || status=$?
took=$(awk -v a="$sent" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')
[ "$status" -eq 0 ] || fail "launch.sh exited $status after SIGHUP"
awk -v t="$took" 'BEGIN { exit !(t <= 20) }' || fail "launch.sh took $took s to stop (bound 20 s)"
grep -q "stopped at step" "$work/first.log" || fail "the workers did not stop with a checkpoint"
grep -q "stopped before the end" "$work/first.log" || fail "no stop message"
pgrep -f "$work/run" > /dev/null && fail "processes left running after SIGHUP"
[ -f "$work/run/finished.json" ] && fail "finished.json after a stop"
grep -q "for workers (TLS)" "$work/run/coordinator.log" || fail "the coordinator did not use TLS"
[ "$(grep -c "joined from" "$work/run/coordinator.log")" -ge 2 ] || fail "the workers did not join over TLS"
stopped=$(grep -o 'stopped at step [0-9]*' "$work/first.log")

HYMASK_BIN="$bin" cluster/launch.sh "${args[@]}" > "$work/second.log" 2>&1 ||
  fail "the resumed launch failed"
grep -q "resuming at step" "$work/second.log" || fail "did not resume"
grep -q "resumed from" "$work/run/coordinator.log" || fail "the coordinator did not resume"
[ -s "$work/run/finished.json" ] || fail "no finished.json"
echo "launch: second launch and taken port refused; $stopped on SIGHUP, everything stopped in $took s; $(grep -o 'resuming at step [0-9]*' "$work/second.log"); finished $(cat "$work/run/finished.json")"
