#!/usr/bin/env bash
# Makes a self-signed TLS certificate for the coordinator of one run (coordinator.tls): DIR/coordinator.pem
# and its key DIR/coordinator.key (mode 600), valid 30 days, naming every HOST given (host names or
# IP addresses: each must be what workers put in coordinator.address). Keeps an existing pair, so
# a resumed run keeps its certificate. Workers trust exactly this certificate
# (coordinator.tls_trusted empty), so no certificate authority is involved. Needs `openssl`.
#   cluster/tls-certificate.sh DIR HOST [HOST ...]
set -euo pipefail
[ $# -ge 2 ] || { echo "usage: tls-certificate.sh DIR HOST [HOST ...]" >&2; exit 2; }
dir="$1"
shift
command -v openssl > /dev/null || { echo "tls-certificate.sh: needs openssl (apt-get install openssl)" >&2; exit 1; }
[ -s "$dir/coordinator.pem" ] && [ -s "$dir/coordinator.key" ] && exit 0
names=()
for host in "$@"; do
  if [[ "$host" =~ ^[0-9.]+$ || "$host" == *:* ]]; then names+=("IP:$host"); else names+=("DNS:$host"); fi
done
mkdir -p "$dir"
san=$(IFS=,; echo "${names[*]}")
(umask 077 && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 30 \
  -subj "/CN=hymask-coordinator" -addext "subjectAltName=$san" \
  -keyout "$dir/coordinator.key" -out "$dir/coordinator.pem" 2> "$dir/openssl.log") ||
  { cat "$dir/openssl.log" >&2; exit 1; }
rm -f "$dir/openssl.log"
