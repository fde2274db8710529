// The MPI backend (OpenMPI, CPU tensors). Every MPI call happens on one thread (OpQueue), with
// non-blocking collectives polled against their deadline. To name the ranks that never reached a
// collective, each rank sends every other rank a small "arrived at #n" note on a separate
// communicator as it enters collective n; on a timeout, the ranks whose last note is older are
// the missing ones. (The notes cost size - 1 tiny messages per collective: fine for the tens of
// ranks of a CPU job; a large GPU job uses NCCL for the gradients.)
#pragma once

#include <memory>

#include "comm/communicator.h"

namespace hymask::comm {

// Initialises MPI if needed (and finalises it when the last communicator goes).
std::unique_ptr<Communicator> make_mpi_communicator();

// Rank and size without a communicator: from MPI's launcher or Slurm's environment, else 0 of 1.
struct LaunchInfo {
  int rank = 0;
  int size = 1;
  int local_rank = 0;
  std::string launcher = "none";  // mpirun | slurm | none
};
LaunchInfo launch_info();

}  // namespace hymask::comm
