// Where this process stands in its job, before any communicator exists: rank and size from MPI's
// launcher (mpirun) or from Slurm's environment (srun), else rank 0 of 1.
#pragma once

#include <string>

namespace hymask::comm {

struct LaunchInfo {
  int rank = 0;
  int size = 1;
  int local_rank = 0;
  std::string launcher = "none";  // mpirun | slurm | none
};

LaunchInfo launch_info();

}  // namespace hymask::comm
