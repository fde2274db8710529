#!/usr/bin/env bash
# Launches a hymask job on this host or on the hosts of an MPI hostfile: the coordinator (which
# trains the masking policy) on this host, then N hymask-worker ranks under mpirun, connected to
# it with a fresh shared secret. Ctrl-C (or SIGTERM, or SIGHUP) stops everything cleanly: the workers
# checkpoint at their next step, then the coordinator checkpoints and exits. Run it again with
# the same --out to resume.
#
#   cluster/launch.sh --config configs/demo.yaml --out runs/job [-n 2] [--hostfile H]
#                     [--bind ADDRESS] [--port P] [--gpus] [--tls] [key=value ...]
#
#   -n N           worker ranks (default 2)
#   --hostfile H   mpirun hostfile (hosts other than this one need the same paths, the build,
#                  and the data, and must reach --bind)
#   --bind ADDR    the coordinator's listen address, reachable by every worker host (default
#                  127.0.0.1, enough for one host; with a hostfile: this host's cluster address)
#   --port P       the coordinator's port (default 7777); its console is on 127.0.0.1:P+1
#   --gpus         one GPU per rank: each rank sees only the GPU of its local rank
#                  (CUDA_VISIBLE_DEVICES, via cluster/gpu-rank.sh), ranks bound to sockets
#   --tls          encrypt coordinator <-> worker traffic (coordinator.tls) with a self-signed
#                  certificate made for the run in OUT/tls (needs openssl)
#   key=value      config overrides, for the coordinator and the workers alike
# The coordinator's console: http://127.0.0.1:7778/ by default (build/bin/hymask status --watch).
set -euo pipefail
cd "$(dirname "$0")/.."
bin="${HYMASK_BIN:-build/bin}"

ranks=2 hostfile="" bind="127.0.0.1" port=7777 gpus=0 tls=0 config="" out="" overrides=()
while [ $# -gt 0 ]; do
  case "$1" in
    -n) ranks="$2"; shift 2 ;;
    --hostfile) hostfile="$2"; shift 2 ;;
    --bind) bind="$2"; shift 2 ;;
    --port) port="$2"; shift 2 ;;
    --gpus) gpus=1; shift ;;
    --tls) tls=1; shift ;;
    --config) config="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    -h|--help) sed -n '2,23p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *=*) overrides+=("$1"); shift ;;
    *) echo "launch.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
[ -n "$config" ] && [ -n "$out" ] || { echo "launch.sh: --config and --out are required (see --help)" >&2; exit 2; }
for b in hymask-coordinator hymask-worker hymask; do
  [ -x "$bin/$b" ] || { echo "launch.sh: $bin/$b not found: build first (scripts/setup.sh)" >&2; exit 1; }
done
"$bin/hymask" config check "$config" "${overrides[@]}" > /dev/null

console_port=$(( port + 1 ))
address="$bind:$port"
. "$(dirname "$0")/coordinator.sh"
lock_run_folder "$out"
[ "$tls" -eq 0 ] || tls_overrides "$out" "$bind"
start_coordinator "$bin" "$config" "$out" "$address" "$console_port" "${overrides[@]}"
workers=""
stop() {
  echo "launch.sh: stopping (workers checkpoint at their next step)" >&2
  # mpirun forwards SIGUSR1 to every rank (SIGTERM it would escalate to SIGKILL).
  [ -n "$workers" ] && kill -USR1 "$workers" 2>/dev/null || true
}
trap stop INT TERM HUP  # HUP: the terminal closed; the job stops as on Ctrl-C, with a checkpoint
echo "launch.sh: coordinator on $address ($([ "$tls" -eq 1 ] && echo TLS || echo plain TCP)), console http://127.0.0.1:$console_port/"

# mpirun, too, runs in a session of its own: the script stops it (and the coordinator) in order.
mpirun_args=(-np "$ranks" --oversubscribe)
[ -n "$hostfile" ] && mpirun_args+=(--hostfile "$hostfile")
[ "$(id -u)" -eq 0 ] && mpirun_args+=(--allow-run-as-root)
launcher=()
if [ "$gpus" -eq 1 ]; then
  mpirun_args+=(--map-by ppr:"$ranks":node --bind-to socket)
  launcher=(cluster/gpu-rank.sh)
fi
# The workers resume by themselves when the run folder holds a checkpoint.
setsid mpirun "${mpirun_args[@]}" "${launcher[@]}" "$bin/hymask-worker" \
  --config "$config" --out "$out" --auto-resume coordinator.address="$address" \
  "${overrides[@]}" &
workers=$!
wait_for_workers $workers
if [ "$status" -eq 0 ] && [ -f "$out/finished.json" ]; then
  echo "launch.sh: finished; run folder $out"
elif [ "$status" -eq 0 ]; then
  echo "launch.sh: stopped before the end; continue with the same command" >&2
else
  echo "launch.sh: the workers failed (exit $status): see the errors above; run folder $out" >&2
fi
exit $status
