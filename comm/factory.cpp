#include "comm/factory.h"

#include "comm/mpi/mpi_communicator.h"
#include "comm/self/self_communicator.h"
#ifdef HYMASK_WITH_NCCL
#include "comm/nccl/nccl_communicator.h"
#endif

namespace hymask::comm {

std::unique_ptr<Communicator> make_communicator(Backend backend, const LaunchInfo& launch) {
  switch (backend) {
    case Backend::kAuto:
      if (launch.launcher == "none" && launch.size == 1) return make_self_communicator();
      return make_mpi_communicator();
    case Backend::kMpi:
      return make_mpi_communicator();
    case Backend::kNccl:
#ifdef HYMASK_WITH_NCCL
      return make_nccl_communicator(make_mpi_communicator(), launch.local_rank);
#else
      throw ConfigError(
          "train.backend nccl: this build has no NCCL backend (build where the CUDA toolkit "
          "and NCCL are installed), or choose auto or mpi");
#endif
  }
  HYMASK_CHECK(false, "unknown backend");
}

TrainingCommunicators make_training_communicators(Backend backend, bool cuda,
                                                  const LaunchInfo& launch) {
  if (backend == Backend::kNccl && !cuda)
    throw ConfigError(
        "train.backend nccl averages CUDA tensors, and this rank trains on the CPU: use "
        "train.backend auto or mpi (or train.device cuda)");
  if (backend == Backend::kMpi && cuda && launch.size > 1)
    throw ConfigError(
        "train.backend mpi averages CPU tensors, and this rank trains on CUDA: use "
        "train.backend auto or nccl");
  TrainingCommunicators c;
  c.control = make_communicator(backend == Backend::kNccl ? Backend::kAuto : backend, launch);
  if (cuda && c.control->size() > 1) c.gradients = make_communicator(Backend::kNccl, launch);
  return c;
}

}  // namespace hymask::comm
