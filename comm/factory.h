// The communicators a process trains with, chosen once from train.backend and how it was launched:
//   auto  the self communicator (comm/self/) for a process started alone, MPI under mpirun/srun
//   mpi   MPI, also for one rank (to test the MPI path without a second process)
//   nccl  NCCL on GPU `local_rank`, its unique id sent over MPI (builds with CUDA and NCCL)
#pragma once

#include <memory>
#include <string>

#include "comm/communicator.h"
#include "comm/launch.h"
#include "core/options.h"

namespace hymask::comm {

using hymask::Backend;  // train.backend's values (core/options.h)

std::unique_ptr<Communicator> make_communicator(Backend backend, const LaunchInfo& launch);

// The communicators of a training process. `control` carries the ranks' agreements (sizes,
// losses, stop flags: CPU tensors), over MPI or, for a process alone, nothing. `gradients`
// averages the gradients where `control` cannot: NCCL for a process that trains on CUDA among
// several; null otherwise (`control` does it). Refuses nccl for CPU training and mpi for CUDA
// training with a ConfigError.
struct TrainingCommunicators {
  std::unique_ptr<Communicator> control;
  std::unique_ptr<Communicator> gradients;  // destroyed first: its bootstrap is `control`'s MPI
};
TrainingCommunicators make_training_communicators(Backend backend, bool cuda,
                                                  const LaunchInfo& launch);

}  // namespace hymask::comm
