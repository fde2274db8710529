#!/usr/bin/env bash
# Runs a command (one rank) with only its own GPU visible, within the GPUs this job was given:
#   - Slurm bound one GPU to the task (--gpus-per-task, --gpu-bind): CUDA_VISIBLE_DEVICES holds
#     one entry, and it is kept as it is;
#   - the job holds several GPUs of the node (CUDA_VISIBLE_DEVICES="2,3", as Slurm sets it for
#     --gpus-per-node): the rank takes the entry of its local rank in that list, never a GPU
#     outside it;
#   - nothing set: GPU = local rank; HYMASK_GPUS="2,3,..." names the list instead.
# The local rank: OMPI_COMM_WORLD_LOCAL_RANK (mpirun) or SLURM_LOCALID (srun).
#   mpirun -np 8 cluster/gpu-rank.sh build/bin/hymask-worker ...
set -euo pipefail
local_rank="${OMPI_COMM_WORLD_LOCAL_RANK:-${SLURM_LOCALID:-0}}"
visible="${HYMASK_GPUS:-${CUDA_VISIBLE_DEVICES:-}}"
if [ -n "$visible" ]; then
  IFS=, read -r -a gpus <<< "$visible"
  if [ "${#gpus[@]}" -gt 1 ]; then
    if [ "$local_rank" -ge "${#gpus[@]}" ]; then
      echo "gpu-rank.sh: local rank $local_rank but only ${#gpus[@]} GPUs ($visible) for this" \
        "node's ranks: ask for one GPU per task" >&2
      exit 1
    fi
    export CUDA_VISIBLE_DEVICES="${gpus[$local_rank]}"
  else
    export CUDA_VISIBLE_DEVICES="${gpus[0]}"
  fi
else
  export CUDA_VISIBLE_DEVICES="$local_rank"
fi
exec "$@"
