#!/usr/bin/env bash
# Preemption: SIGTERM to any one hymask process during a real run gives a checkpoint and a clean
# exit (code 0) within a bounded time, and the run resumes from that checkpoint:
#   - `hymask train` (one process);
#   - one rank of 2 hymask-worker ranks under mpirun (the stop is agreed at the next step, so
#     every rank checkpoints and exits, mpirun with them);
#   - hymask-coordinator under a run (it writes its state; a restart resumes the same version;
#     the workers carry on).
# Bound: 20 s (a step here takes ~0.15 s; the rest is the checkpoint write and MPI's teardown).
# Prints the measured times. tests/sigterm_test.sh BIN_DIR
set -euo pipefail
bin="$(cd "$1" && pwd)"
repo="$(cd "$(dirname "$0")/.." && pwd)"
bound=20
work="$(mktemp -d)"
pids=""
cleanup() {
  kill -KILL $pids 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; tail -n 5 "$work"/*.log; exit 1; }
cd "$repo"
small=(data.synthetic_identities=12 data.synthetic_images_per_identity=10 data.image_size=32
       train.batch_size=16 train.epochs=400 train.log_every=1 train.threads=1)
wait_for_step() {  # RUN STEP PID
  for _ in $(seq 600); do
    grep -qE "\"step\":$2[,}]" "$1/metrics.jsonl" 2>/dev/null && return 0
    kill -0 "$3" 2>/dev/null || fail "the process ended before step $2"
    sleep 0.1
  done
  fail "no step $2 in $1"
}
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }'; }
# terminate PID WAIT_PID WHAT: SIGTERM to PID, then waits for WAIT_PID (PID itself, or the
# launcher above it) and checks an exit code of 0 within the bound; sets $took.
terminate() {
  local sent status=0
  sent=$(now)
  kill -TERM "$1"
  wait "$2" || status=$?
  took=$(elapsed "$sent")
  [ "$status" -eq 0 ] || fail "$3 exited $status after SIGTERM"
  awk -v t="$took" -v b="$bound" 'BEGIN { exit !(t <= b) }' || fail "$3 took $took s to stop"
}
report=()

# 1. hymask train.
"$bin/hymask" train --out "$work/train" --no-eval "${small[@]}" > "$work/train.log" 2>&1 &
pid=$!
pids="$pid"
wait_for_step "$work/train" 5 $pid
terminate $pid $pid "hymask train"
grep -q "stopped at step" "$work/train.log" || fail "hymask train did not checkpoint"
"$bin/hymask" train --out "$work/train" --resume train.stop_after=8 > "$work/train-resume.log" 2>&1 ||
  fail "hymask train did not resume"
report+=("hymask train: $took s")

# 2. and 3.: a coordinated run of 2 mpirun workers.
command -v mpirun > /dev/null || { echo "sigterm: ${report[*]}; mpirun not found: the rest skipped"; exit 0; }
(umask 077 && head -c 32 /dev/urandom | base64 > "$work/secret")
export HYMASK_SECRET_FILE="$work/secret"
port=$(( 40000 + RANDOM % 10000 ))
run=(--config configs/demo.yaml "${small[@]}" coordinator.broadcast_every=2
     coordinator.address="127.0.0.1:$port")
start_coordinator() {
  "$bin/hymask-coordinator" "${run[@]}" --state "$work/coordinator" --listen "127.0.0.1:$port" \
    --console "127.0.0.1:$((port + 1))" >> "$work/coordinator.log" 2>&1 &
  coordinator=$!
  pids="$pids $coordinator"
  for _ in $(seq 100); do
    "$bin/hymask" status --coordinator "127.0.0.1:$((port + 1))" > /dev/null 2>&1 && return 0
    sleep 0.1
  done
  fail "the coordinator did not start"
}
mpirun_args=(-np 2 --oversubscribe)
[ "$(id -u)" -eq 0 ] && mpirun_args+=(--allow-run-as-root)
start_coordinator
mpirun "${mpirun_args[@]}" "$bin/hymask-worker" "${run[@]}" --out "$work/workers" --no-eval \
  --auto-resume > "$work/workers.log" 2>&1 &
workers=$!
pids="$pids $workers"
wait_for_step "$work/workers" 20 $workers

# 3. The coordinator, while the workers train.
terminate $coordinator $coordinator "the coordinator"
stopped_at=$(grep -o 'stopping: policy version [0-9]*' "$work/coordinator.log" | grep -o '[0-9]*$')
start_coordinator
resumed_at=$(grep -o 'resumed from .*: policy version [0-9]*' "$work/coordinator.log" | grep -o '[0-9]*$')
[ "$resumed_at" = "$stopped_at" ] || fail "the coordinator stopped at v$stopped_at but resumed at v$resumed_at"
kill -0 $workers 2>/dev/null || fail "the workers did not ride out the coordinator's stop"
report+=("hymask-coordinator: $took s (stopped at v$stopped_at, resumed at v$resumed_at)")

# 2. One worker rank.
wait_for_step "$work/workers" 40 $workers
rank=$(pgrep -f "hymask-worker .*--out $work/workers" | tail -1)
[ -n "$rank" ] || fail "no worker rank found"
terminate "$rank" $workers "mpirun, after SIGTERM to one rank,"
[ "$(grep -c "stopped at step" "$work/workers.log")" -ge 1 ] || fail "the workers did not checkpoint"
pgrep -f "hymask-worker .*--out $work/workers" > /dev/null && fail "a worker rank is still running"
mpirun "${mpirun_args[@]}" "$bin/hymask-worker" "${run[@]}" --out "$work/workers" --no-eval \
  --auto-resume train.stop_after=50 > "$work/workers-resume.log" 2>&1 ||
  fail "the workers did not resume"
grep -q "resuming at step" "$work/workers-resume.log" || fail "the workers started afresh"
report+=("one of 2 mpirun worker ranks: $took s (all ranks checkpointed, mpirun exit 0)")
kill -TERM $coordinator && wait $coordinator || true
echo "sigterm to exit, bound $bound s: $(IFS=';'; echo "${report[*]}")"
