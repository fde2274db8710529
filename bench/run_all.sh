#!/usr/bin/env bash
# Reproduces every number of docs/BENCHMARKS.md on this machine, one after the other (run it on
# an otherwise idle machine: about 15 minutes on 2 cores). Each section prints its own table.
#   bench/run_all.sh [BUILD_BIN_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
bin="${1:-build/bin}"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
section() { echo; echo "== $* =="; }
section "machine"
lscpu | grep -E "Model name|^CPU\(s\)" ; free -g | head -2; date -u
section "masking transform, 1 and 2 cores"
"$bin/bench_masking" --threads 2
section "loader images/s: RecordIO against the folder (LFW)"
bench/loader_throughput.sh "$bin"
section "reducer bus bandwidth against raw MPI"
mpirun -np 2 "$bin/bench_comm" --mb 25
mpirun -np 2 "$bin/bench_comm" --mb 12
section "model step: LibTorch alone, with FusedSgd, with the oneDNN trunk; 2 threads (1 rank) and 1 (each of 2 ranks)"
"$bin/bench_model_step" --threads 2
"$bin/bench_model_step" --threads 1
section "training images/s, 1 and 2 ranks (synthetic)"
bench/dp_throughput.sh "$bin"
section "hymask against PyTorch DDP (LFW-disjoint-5)"
if [ -d ../shared/data/lfw ] && /usr/bin/python3 -c "import torch, PIL" 2>/dev/null; then
  bench/ddp_vs_hymask.sh "$bin"
else
  echo "skipped: needs ../shared/data/lfw and python3-torch, python3-pil"
fi
section "coordinator capacity (more workers until the p99 update latency passes 100 ms)"
for workers in 256 1024 2048 4096 5120 6144 8192; do
  "$bin/bench_coordinator" --workers "$workers" --hz 10
done
section "GPU masking kernels"
if command -v nvidia-smi > /dev/null && nvidia-smi > /dev/null 2>&1; then
  cluster/device/check.sh
else
  echo "skipped: no GPU (cluster/device/check.sh on a GPU machine)"
fi
