// The NCCL backend (CUDA tensors). The unique id travels over the bootstrap (MPI) communicator;
// collectives run on a stream of their own and are polled against their deadline (on a timeout
// the NCCL communicator is aborted, so no rank hangs). Every CUDA and NCCL return code is checked.
// Built when the CUDA toolkit and NCCL are found (HYMASK_WITH_NCCL); needs a GPU to run.
#pragma once

#include <memory>

#include "comm/communicator.h"

namespace hymask::comm {

// `bootstrap` (MPI) sends the unique id and serves broadcast, allgather and barrier of small
// control data; `device` is the CUDA device of this rank.
std::unique_ptr<Communicator> make_nccl_communicator(std::unique_ptr<Communicator> bootstrap,
                                                     int device);

}  // namespace hymask::comm
