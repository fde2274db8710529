// The MPI backend (OpenMPI, CPU tensors). Collectives run one at a time, in order, on a helper
// thread (OpQueue), as MPI's blocking calls: OpenMPI's tuned blocking all-reduce is over twice as
// fast as its non-blocking one (docs/BENCHMARKS.md). The caller waits with a deadline; when it
// passes, the caller gets CollectiveTimeout while the helper stays blocked (the process must then
// exit, which hymask-worker does). To name the ranks that never reached a collective, each rank
// sends every other rank a small "arrived at #n" note on a separate communicator as it enters
// collective n; at a timeout, the ranks whose last note is older are the missing ones. A rank that
// arrived and then died or hung inside the collective is told by its heartbeat: every rank sends
// one to every other rank five times a second, from a thread of its own. (Tiny messages, size - 1
// per collective and per heartbeat: fine for the tens of ranks of a CPU job; GPU jobs use NCCL.)
// Needs MPI_THREAD_MULTIPLE: the waiting thread reads notes while the helper is in a collective.
#pragma once

#include <memory>

#include "comm/communicator.h"

namespace hymask::comm {

// Initialises MPI if needed (and finalises it when the last communicator goes).
std::unique_ptr<Communicator> make_mpi_communicator();

}  // namespace hymask::comm
