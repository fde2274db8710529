#!/usr/bin/env bash
# Runs a command (one rank) with only its own GPU visible: the GPU numbered by the rank's local
# rank on its node (mpirun: OMPI_COMM_WORLD_LOCAL_RANK; srun: SLURM_LOCALID). With
# HYMASK_GPUS="2,3,..." the local rank indexes that list instead.
#   mpirun -np 8 cluster/gpu-rank.sh build/bin/hymask-worker ...
set -euo pipefail
local_rank="${OMPI_COMM_WORLD_LOCAL_RANK:-${SLURM_LOCALID:-0}}"
if [ -n "${HYMASK_GPUS:-}" ]; then
  IFS=, read -r -a gpus <<< "$HYMASK_GPUS"
  export CUDA_VISIBLE_DEVICES="${gpus[$local_rank]}"
else
  export CUDA_VISIBLE_DEVICES="$local_rank"
fi
exec "$@"
