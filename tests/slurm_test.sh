#!/usr/bin/env bash
# The Slurm job scripts against a real Slurm: a one-node cluster on localhost (munged, slurmctld,
# slurmd from Debian's packages, configured from cluster/slurm/test/slurm.conf.in in a temporary
# folder, with ports and sockets of its own), started here and stopped at the end.
#   1. HYMASK_TLS=1 sbatch cluster/slurm/hymask-single.sbatch: the job completes, its coordinator
#      and workers talking over TLS, and writes its metrics.
#   2. the same job receives the time-limit warning (USR1 to the batch shell, as --signal sends
#      it): it checkpoints, requeues itself, and the requeued job resumes to completion.
# Needs root (the daemons run as root) and the packages slurmctld slurmd slurm-client munge;
# skipped without them.
#   tests/slurm_test.sh BIN_DIR
set -euo pipefail
bin="$(cd "$1" && pwd)"
repo="$(cd "$(dirname "$0")/.." && pwd)"
for tool in slurmctld slurmd sbatch munged mungekey; do
  command -v "$tool" > /dev/null || { echo "$tool not found: skipped (apt-get install slurmctld slurmd slurm-client munge)"; exit 0; }
done
[ "$(id -u)" -eq 0 ] || { echo "not root: skipped (the test cluster's daemons run as root)"; exit 0; }

dir="$(mktemp -d /tmp/hymask-slurm.XXXXXX)"
fail() {
  echo "FAIL: $*"
  for f in slurmctld.log slurmd.log; do echo "--- $f"; tail -20 "$dir/$f" 2>/dev/null || true; done
  for f in "$dir"/job-*.log; do echo "--- $f"; tail -30 "$f" 2>/dev/null || true; done
  exit 1
}
stop_daemons() {
  for pidfile in slurmd.pid slurmctld.pid munged.pid; do
    [ -f "$dir/$pidfile" ] && kill "$(cat "$dir/$pidfile")" 2>/dev/null || true
  done
  sleep 1
  rm -rf "$dir"
}
trap stop_daemons EXIT

# munge with its own key and socket.
mungekey --create --keyfile "$dir/munge.key" --force > /dev/null
chmod 600 "$dir/munge.key"
munged --force --key-file "$dir/munge.key" --socket "$dir/munge.socket" \
  --pid-file "$dir/munged.pid" --log-file "$dir/munged.log" --seed-file "$dir/munged.seed"

# The cluster: this machine as node "localhost", on free ports.
mkdir -p "$dir/state" "$dir/spool"
node="$(slurmd -C | head -1 | sed -e 's/^NodeName=[^ ]*/NodeName=localhost/' -e 's/RealMemory=[0-9]*/RealMemory=1000/')"
ctld_port=$(( 30000 + RANDOM % 10000 ))
sed -e "s|@DIR@|$dir|g" -e "s|@CTLD_PORT@|$ctld_port|" -e "s|@SLURMD_PORT@|$((ctld_port + 1))|" \
  -e "s|@NODE@|$node|" "$repo/cluster/slurm/test/slurm.conf.in" > "$dir/slurm.conf"
# PMIx's per-step folders under $dir too: by default they go to /tmp as spmix_appdir_<uid>_<job>.<step>,
# and one left behind by an earlier run of this test (its job ids start at 1 again) fails the step.
mkdir -p "$dir/pmix"
echo "PMIxCliTmpDirBase=$dir/pmix" > "$dir/mpi.conf"
export SLURM_CONF="$dir/slurm.conf"
slurmctld -f "$SLURM_CONF"
slurmd -f "$SLURM_CONF" -N localhost
for _ in $(seq 60); do
  sinfo -h -o %T 2>/dev/null | grep -qE '^idle' && break
  sleep 1
done
sinfo -h -o %T | grep -qE '^idle' || fail "the test cluster did not come up: $(sinfo 2>&1)"
echo "slurm: one-node cluster up ($(sinfo -h -o '%P %D %c %T'))"

job_state() { scontrol show job "$1" 2>/dev/null | grep -o 'JobState=[A-Z_]*' | cut -d= -f2; }
wait_for_end() {  # job seconds
  for _ in $(seq "$2"); do
    case "$(job_state "$1")" in COMPLETED|FAILED|CANCELLED|TIMEOUT|NODE_FAIL|OUT_OF_MEMORY) return ;; esac
    sleep 1
  done
  fail "job $1 still $(job_state "$1") after $2 s"
}

cd "$repo"
common=(data.synthetic_identities=12 data.synthetic_images_per_identity=10 data.image_size=32
        train.batch_size=16 train.log_every=2 train.checkpoint_every=0)
submit() {  # log out extra...
  local log="$1" out="$2"; shift 2
  HYMASK_BIN="$bin" sbatch --parsable --chdir="$repo" --output="$log" --ntasks=2 \
    cluster/slurm/hymask-single.sbatch configs/demo.yaml "$out" "${common[@]}" "$@"
}

# 1. A job that runs to completion.
out1="$dir/run-complete"
job=$(HYMASK_TLS=1 submit "$dir/job-complete.log" "$out1" train.epochs=2)
wait_for_end "$job" 240
[ "$(job_state "$job")" = COMPLETED ] || fail "job $job ended $(job_state "$job")"
[ -s "$out1/finished.json" ] || fail "no finished.json"
[ "$(grep -c '"step"' "$out1/metrics.jsonl")" -ge 2 ] || fail "no metrics"
grep -q "2 workers" "$dir/job-complete.log" || fail "not 2 workers"
grep -q "for workers (TLS)" "$out1/coordinator.log" || fail "HYMASK_TLS=1 did not turn TLS on"
echo "slurm: job $job completed: $(cat "$out1/finished.json")"

# 2. The time-limit warning: checkpoint, requeue, resume to completion.
out2="$dir/run-requeue"
# 120 steps: long enough to be running when the signal comes (it follows step 6 within a second),
# short enough that the requeued job, which resumes near the start, ends in minutes on 2 busy cores.
job=$(submit "$dir/job-requeue.log" "$out2" train.epochs=40)
for _ in $(seq 120); do
  grep -qE '"step":6[,}]' "$out2/metrics.jsonl" 2>/dev/null && break
  sleep 1
done
grep -qE '"step":6[,}]' "$out2/metrics.jsonl" || fail "job $job did not start training"
scancel --signal=USR1 --batch "$job"  # what --signal=B:USR1@... sends before the time limit
for _ in $(seq 120); do
  scontrol show job "$job" | grep -q 'Restarts=[1-9]' && break
  sleep 1
done
scontrol show job "$job" | grep -q 'Restarts=[1-9]' || fail "job $job was not requeued"
wait_for_end "$job" 600
[ "$(job_state "$job")" = COMPLETED ] || fail "requeued job $job ended $(job_state "$job")"
grep -q "requeueing" "$dir/job-requeue.log" || fail "no requeue message"
grep -q "resuming at step" "$dir/job-requeue.log" || fail "the requeued job did not resume"
[ -s "$out2/finished.json" ] || fail "no finished.json after the requeue"
stopped=$(grep -o 'stopped at step [0-9]*' "$dir/job-requeue.log" | head -1)
resumed=$(grep -o 'resuming at step [0-9]*' "$dir/job-requeue.log" | head -1)
echo "slurm: job $job $stopped, requeued, $resumed, completed: $(cat "$out2/finished.json")"
