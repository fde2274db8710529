#include "comm/launch.h"

#include <cstdlib>

namespace hymask::comm {

namespace {

int env_int(const char* name, int fallback) {
  const char* value = std::getenv(name);
  return value ? std::atoi(value) : fallback;
}

}  // namespace

LaunchInfo launch_info() {
  LaunchInfo info;
  if (std::getenv("OMPI_COMM_WORLD_SIZE")) {
    info.rank = env_int("OMPI_COMM_WORLD_RANK", 0);
    info.size = env_int("OMPI_COMM_WORLD_SIZE", 1);
    info.local_rank = env_int("OMPI_COMM_WORLD_LOCAL_RANK", 0);
    info.launcher = "mpirun";
  } else if (std::getenv("SLURM_PROCID") && std::getenv("SLURM_NTASKS")) {
    info.rank = env_int("SLURM_PROCID", 0);
    info.size = env_int("SLURM_NTASKS", 1);
    info.local_rank = env_int("SLURM_LOCALID", 0);
    info.launcher = "slurm";
  }
  return info;
}

}  // namespace hymask::comm
