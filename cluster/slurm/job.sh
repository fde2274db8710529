#!/usr/bin/env bash
# The body of hymask's Slurm jobs (hymask-single.sbatch, hymask-multi.sbatch), run by the batch
# script on the allocation's first node:
#   - hymask-coordinator on this node, with the run's shared secret and its state in OUT;
#   - the workers with srun, one task per slot of the allocation, which resume from OUT's
#     checkpoint when there is one (--auto-resume);
#   - on SIGUSR1 (the job's --signal=B:USR1@SECONDS warning before its time limit) or SIGTERM:
#     the workers checkpoint at their next step and exit, the coordinator checkpoints, and the
#     job requeues itself (scontrol requeue, --requeue) to continue where it stopped;
#   - it ends when OUT/finished.json exists (the schedule is done).
#
#   job.sh --config CONFIG --out OUT [key=value ...]
# Environment: HYMASK_BIN (default build/bin), HYMASK_BIND (the coordinator's address, default
# 127.0.0.1 on one node, this node's address on several), HYMASK_SRUN_MPI (default pmix),
# HYMASK_WORKER_WRAPPER (a command each task runs the worker through, e.g. cluster/gpu-rank.sh),
# HYMASK_TLS=1 (encrypt coordinator <-> worker traffic with a certificate made for the run).
set -euo pipefail
bin="${HYMASK_BIN:-build/bin}"
config="" out="" overrides=()
while [ $# -gt 0 ]; do
  case "$1" in
    --config) config="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    *=*) overrides+=("$1"); shift ;;
    *) echo "job.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
done
[ -n "$config" ] && [ -n "$out" ] || { echo "job.sh: --config and --out are required" >&2; exit 2; }
: "${SLURM_JOB_ID:?job.sh runs inside a Slurm job (sbatch cluster/slurm/hymask-single.sbatch)}"
log() { echo "[$(date +%H:%M:%S)] job $SLURM_JOB_ID (restart ${SLURM_RESTART_COUNT:-0}): $*"; }

if [ -f "$out/finished.json" ]; then log "$out is finished already"; exit 0; fi
if [ "${SLURM_JOB_NUM_NODES:-1}" -gt 1 ]; then
  # The address of the interface that reaches the other nodes: the route to the second node.
  # Never a loopback address (getent gives 127.0.1.1 for the own name on Debian-style nodes).
  if [ -z "${HYMASK_BIND:-}" ]; then
    second=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | sed -n 2p)
    second_ip=$(getent ahostsv4 "$second" | awk 'NR == 1 { print $1 }')
    HYMASK_BIND=$(ip -4 route get "$second_ip" 2>/dev/null | sed -n 's/.* src \([0-9.]*\).*/\1/p')
  fi
  bind="$HYMASK_BIND"
  case "$bind" in
    ""|127.*) echo "job.sh: no address of this node reaches $second (got '${bind}'): set" \
                "HYMASK_BIND to this node's cluster address" >&2; exit 1 ;;
  esac
else
  bind="${HYMASK_BIND:-127.0.0.1}"
fi
# Threads follow the allocation (srun no longer passes --cpus-per-task on since Slurm 22.05),
# unless the config or the command line sets train.threads itself.
cpus="${SLURM_CPUS_PER_TASK:-}"
if [ -n "$cpus" ] && ! printf '%s\n' "${overrides[@]}" | grep -q '^train.threads=' &&
   [ "$("$bin/hymask" config check "$config" | awk '/^train:/ { t = 1 } t && /^  threads:/ { print $2; exit }')" = 2 ]; then
  overrides=("train.threads=$cpus" "${overrides[@]}")
fi

. "$(dirname "$0")/../coordinator.sh"
lock_run_folder "$out"
# A free pair (coordinator, console) near a job-specific start; another job that takes it
# between this check and the coordinator's bind makes start_coordinator fail with its error.
port=$(free_port_pair $(( 20000 + (SLURM_JOB_ID * 2) % 40000 )))
[ "${HYMASK_TLS:-0}" != 1 ] || tls_overrides "$out" "$bind"
start_coordinator "$bin" "$config" "$out" "$bind:$port" "$((port + 1))" "${overrides[@]}"
workers="" interrupted=0
on_signal() {
  interrupted=1
  log "signal: workers checkpoint and stop"
  [ -n "$workers" ] && kill -USR1 "$workers" 2>/dev/null || true  # srun forwards it to the tasks
}
trap on_signal USR1 TERM
log "coordinator on $bind:$port; $SLURM_NTASKS workers on $SLURM_JOB_NODELIST"

wrapper=()  # e.g. cluster/gpu-rank.sh: one GPU per task
[ -n "${HYMASK_WORKER_WRAPPER:-}" ] && wrapper=("$HYMASK_WORKER_WRAPPER")
srun --mpi="${HYMASK_SRUN_MPI:-pmix}" --kill-on-bad-exit=1 ${cpus:+--cpus-per-task="$cpus"} \
  "${wrapper[@]}" "$bin/hymask-worker" \
  --config "$config" --out "$out" --auto-resume coordinator.address="$bind:$port" \
  "${overrides[@]}" &
workers=$!
wait_for_workers $workers

if [ "$status" -eq 0 ] && [ -f "$out/finished.json" ]; then
  log "finished: $(cat "$out/finished.json")"
  exit 0
fi
if [ "$interrupted" -eq 1 ] && [ "$status" -eq 0 ]; then
  log "checkpointed before the time limit; requeueing"
  scontrol requeue "$SLURM_JOB_ID"
  exit 0
fi
log "workers failed (exit $status); the checkpoint in $out is kept: resubmit to resume"
exit "$status"
