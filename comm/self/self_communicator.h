// The size-1 backend: one process, no MPI. Every collective of one rank is the identity, done at
// once, so that single-process training runs the same code as data-parallel training.
#pragma once

#include <memory>

#include "comm/communicator.h"

namespace hymask::comm {

std::unique_ptr<Communicator> make_self_communicator();

}  // namespace hymask::comm
