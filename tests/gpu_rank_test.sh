#!/usr/bin/env bash
# cluster/gpu-rank.sh keeps each rank inside the GPUs its job was given.
set -euo pipefail
script="$(dirname "$0")/../cluster/gpu-rank.sh"
fail() { echo "FAIL: $*"; exit 1; }
visible() { env -i PATH="$PATH" "$@" "$script" bash -c 'echo "$CUDA_VISIBLE_DEVICES"'; }
# Slurm gave the job GPUs 2 and 3: local ranks 0 and 1 take 2 and 3, never 0 and 1.
[ "$(visible SLURM_LOCALID=0 CUDA_VISIBLE_DEVICES=2,3)" = 2 ] || fail "rank 0 of GPUs 2,3"
[ "$(visible SLURM_LOCALID=1 CUDA_VISIBLE_DEVICES=2,3)" = 3 ] || fail "rank 1 of GPUs 2,3"
# Slurm bound one GPU to the task (--gpus-per-task=1): kept, whatever the local rank.
[ "$(visible SLURM_LOCALID=3 CUDA_VISIBLE_DEVICES=5)" = 5 ] || fail "a bound GPU was replaced"
# Nothing set: GPU = local rank; HYMASK_GPUS names the list.
[ "$(visible OMPI_COMM_WORLD_LOCAL_RANK=1)" = 1 ] || fail "no binding"
[ "$(visible OMPI_COMM_WORLD_LOCAL_RANK=1 HYMASK_GPUS=4,6)" = 6 ] || fail "HYMASK_GPUS"
# More ranks than GPUs: an error, not someone else's GPU.
if visible SLURM_LOCALID=2 CUDA_VISIBLE_DEVICES=2,3 2>/dev/null; then fail "rank 2 of 2 GPUs"; fi
echo "gpu-rank tests passed"
