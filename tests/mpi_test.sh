#!/usr/bin/env bash
# hymask-worker under mpirun as a user runs it: a run stopped part-way resumes on every rank from
# rank 0's checkpoint; a rank that dies (SIGKILL) or hangs (SIGSTOP) mid-training makes the
# surviving rank end with the promised error, naming the missing rank, within the collective
# timeout (3 s here).
# Usage: mpi_test.sh BUILD_BIN_DIR
set -euo pipefail
worker="$1/hymask-worker"
command -v mpirun > /dev/null || { echo "mpirun not found: skipped"; exit 0; }
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
work=$(mktemp -d)
trap 'pkill -9 -f "hymask-worker --out $work" 2>/dev/null || true; rm -rf "$work"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
args=(data.synthetic_identities=6 data.synthetic_images_per_identity=8 data.image_size=32
      train.batch_size=4 train.epochs=1000 train.threads=1 model.embedding=32 model.scale=16
      model.margin=0.2 mask.method=mask train.log_every=10 train.checkpoint_every=0
      train.comm_timeout_s=3)

# Pid of rank $2 among the workers writing to $1.
rank_pid() {
  for p in $(pgrep -f "hymask-worker --out $1" || true); do
    if tr '\0' '\n' < "/proc/$p/environ" 2>/dev/null | grep -qx "OMPI_COMM_WORLD_RANK=$2"; then
      echo "$p"; return; fi
  done
}

# Stop after 5 steps, resume to the end (2 epochs of 6 steps), evaluate on rank 0.
mpirun -np 2 "$worker" --out "$work/resume" "${args[@]}" train.epochs=2 train.stop_after=5 \
  > "$work/resume1.log" 2>&1 || fail "first part failed: $(tail -3 "$work/resume1.log")"
grep -q "paused at step 5/12" "$work/resume1.log" || fail "no pause: $(tail -3 "$work/resume1.log")"
mpirun -np 2 "$worker" --out "$work/resume" --resume > "$work/resume2.log" 2>&1 ||
  fail "resume failed: $(tail -3 "$work/resume2.log")"
grep -q "resuming at step 5" "$work/resume2.log" || fail "did not resume at step 5"
grep -q "step 12/12" "$work/resume2.log" || fail "did not finish"
[ -s "$work/resume/eval.json" ] || fail "no eval.json"
echo "resume: 5 + 7 steps on 2 ranks, evaluated"

# The federated case: each rank its own folder of other people ({rank} in data.root).
"$1/hymask" synth --out "$work/site0" --identities 3 --images 8 --size 32 --seed 1 > /dev/null
"$1/hymask" synth --out "$work/site1" --identities 4 --images 8 --size 32 --seed 2 > /dev/null
mpirun -np 2 "$worker" --out "$work/federated" "${args[@]}" train.epochs=2 \
  "data.root=$work/site{rank}" > "$work/federated.log" 2>&1 ||
  fail "federated run failed: $(tail -3 "$work/federated.log")"
grep -q "step 12/12" "$work/federated.log" || fail "federated run did not finish"
echo "federated: 2 ranks, a folder each, 7 people in all"

# Coordinator + 2 workers: the central policy version advances, both workers report, the loss
# falls.
(umask 077 && head -c 32 /dev/urandom | base64 > "$work/secret")
export HYMASK_SECRET_FILE="$work/secret"
port=$(( 20000 + RANDOM % 20000 ))
central=(mask.method=adaptive policy.k_max=4 policy.update_every=2 coordinator.broadcast_every=8
         train.epochs=8)
"$1/hymask-coordinator" --listen "127.0.0.1:$port" --console "127.0.0.1:$((port + 1))" \
  --state "$work/coordinator" "${args[@]}" "${central[@]}" > "$work/coordinator.log" 2>&1 &
coordinator=$!
sleep 0.5
mpirun -np 2 "$worker" --out "$work/central" "${args[@]}" "${central[@]}" \
  "coordinator.address=127.0.0.1:$port" > "$work/central.log" 2>&1 ||
  fail "workers with a coordinator failed: $(tail -3 "$work/central.log")"
status=$("$1/hymask" status --coordinator "127.0.0.1:$((port + 1))")
kill "$coordinator"
version=$(echo "$status" | grep -o 'policy v[0-9]*' | grep -o '[0-9]*')
[ "$version" -ge 2 ] || fail "the policy did not advance: $status"
[ "$(echo "$status" | grep -cE '^ +[01] +(connected|lost)')" -eq 2 ] || fail "not 2 workers: $status"
losses=$(grep -o '"loss":[0-9.e+-]*' "$work/central/metrics.jsonl" | cut -d: -f2)
first=$(echo "$losses" | head -1); last=$(echo "$losses" | tail -1)
awk -v a="$first" -v b="$last" 'BEGIN { exit !(b < a) }' || fail "loss did not fall: $first -> $last"
echo "coordinator + 2 workers: policy v$version, loss $first -> $last"

for case in KILL STOP; do
  out="$work/$case"
  extra=()
  [ "$case" = KILL ] && extra=(--enable-recovery)  # let the survivor speak before mpirun reacts
  mpirun "${extra[@]}" -np 2 "$worker" --out "$out" "${args[@]}" > "$out.log" 2>&1 &
  launcher=$!
  for _ in $(seq 200); do grep -q "step 20/" "$out.log" 2>/dev/null && break; sleep 0.1; done
  grep -q "step 20/" "$out.log" || fail "$case: training did not start: $(tail -5 "$out.log")"
  victim=$(rank_pid "$out" 1)
  [ -n "$victim" ] || fail "$case: rank 1 not found"
  start=$(date +%s%3N)
  kill -"$case" "$victim"
  for _ in $(seq 150); do grep -q "timed out" "$out.log" && break; sleep 0.1; done
  elapsed=$(( $(date +%s%3N) - start ))
  grep -qE "timed out after 3 s: rank 1 (never reached it|stopped responding)" "$out.log" ||
    fail "$case: no error naming rank 1: $(tail -5 "$out.log")"
  [ "$elapsed" -lt 10000 ] || fail "$case: took $elapsed ms"
  echo "$case: rank 0 named rank 1 after $elapsed ms"
  kill -9 "$victim" 2>/dev/null || true
  wait "$launcher" || true
done
echo "mpi tests passed"
