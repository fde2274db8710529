# Sourced by cluster/launch.sh and cluster/slurm/job.sh: the run folder's lock, the run's secret,
# the coordinator, its TLS certificate, and waiting for the workers.
#   lock_run_folder OUT
# takes OUT/launch.lock (flock) for the life of the calling script, or ends it with an error that
# names the launch holding it: one run folder, one job.
lock_run_folder() {
  mkdir -p "$1"
  exec 9>> "$1/launch.lock"
  if ! flock -n 9; then
    echo "$(basename "$0"): $1 is in use by another launch ($(cat "$1/launch.lock")): wait for it" \
      "to end, or choose another --out" >&2
    exit 1
  fi
  echo "$(basename "$0") pid $$ on $(hostname) since $(date '+%F %T')" > "$1/launch.lock"
}

#   start_coordinator BIN CONFIG OUT ADDRESS CONSOLE_PORT [key=value ...]
# makes OUT/secret (32 random bytes, mode 600, kept for resumption) unless it exists, exports
# HYMASK_SECRET_FILE, starts hymask-coordinator in a session of its own (so that a Ctrl-C in the
# terminal reaches only the calling script, which stops it last) with its state in
# OUT/coordinator, waits until its console answers, and sets $coordinator to its pid. On exit the
# caller's EXIT trap stops it (the coordinator checkpoints after every policy update).
start_coordinator() {
  local bin="$1" config="$2" out="$3" address="$4" console_port="$5"
  shift 5
  mkdir -p "$out"
  [ -s "$out/secret" ] || (umask 077 && head -c 32 /dev/urandom | base64 > "$out/secret")
  HYMASK_SECRET_FILE="$(cd "$out" && pwd)/secret"
  export HYMASK_SECRET_FILE
  # A run id of our own: another job's console on the same port must not pass for ours.
  local run_id log_start
  run_id="$(hostname)-$$-$(head -c 6 /dev/urandom | od -An -tx1 | tr -d ' \n')"
  log_start=$(( $(stat -c %s "$out/coordinator.log" 2>/dev/null || echo 0) + 1 ))
  setsid "$bin/hymask-coordinator" --config "$config" --state "$out/coordinator" \
    --listen "$address" --console "127.0.0.1:$console_port" --run-id "$run_id" "$@" \
    >> "$out/coordinator.log" 2>&1 &
  coordinator=$!
  trap 'kill -TERM $coordinator 2>/dev/null || true; wait $coordinator 2>/dev/null || true' EXIT
  for _ in $(seq 100); do
    "$bin/hymask" status --coordinator "127.0.0.1:$console_port" --json 2>/dev/null |
      grep -q "\"run_id\": *\"$run_id\"" && return 0
    if ! kill -0 "$coordinator" 2>/dev/null; then
      echo "the coordinator failed to start:" >&2
      tail -c +"$log_start" "$out/coordinator.log" >&2
      exit 1
    fi
    sleep 0.1
  done
  echo "the coordinator did not answer within 10 s: see $out/coordinator.log" >&2
  exit 1
}

# free_port_pair START: the first port P >= START with P and P + 1 free on this host (nothing
# listening on them), by ss(8).
free_port_pair() {
  local p="$1"
  while ss -Htln "( sport = :$p or sport = :$((p + 1)) )" | grep -q .; do
    p=$(( p + 2 ))
  done
  echo "$p"
}

# tls_overrides OUT HOST: makes the run's self-signed certificate in OUT/tls (kept for resumption)
# naming HOST (what the workers connect to), this host's name and localhost, and appends to the
# caller's array `overrides` the config overrides that turn coordinator.tls on for coordinator and
# workers.
tls_overrides() {
  local dir
  dir="$(mkdir -p "$1/tls" && cd "$1/tls" && pwd)"
  "$(dirname "${BASH_SOURCE[0]}")/tls-certificate.sh" "$dir" "$2" "$(hostname)" localhost
  overrides+=(coordinator.tls=true "coordinator.tls_certificate=$dir/coordinator.pem"
              "coordinator.tls_private_key=$dir/coordinator.key")
}

# wait_for_workers PID: waits for the workers' launcher (mpirun or srun) and sets $status to its
# exit code. A trapped signal interrupts `wait` while the workers are still writing their
# checkpoint, so it waits again until the process is gone.
wait_for_workers() {
  status=0
  wait "$1" || status=$?
  while kill -0 "$1" 2>/dev/null; do
    status=0
    wait "$1" || status=$?
  done
}
