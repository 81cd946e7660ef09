#pragma once
// NCCL implementation of Communicator (the GPU collective path), bootstrapped the nccl-tests way:
// rank 0 creates the unique id, MPI_Bcast hands it to every rank, each rank drives the GPU picked
// by its node-local rank. Needs a live MpiRuntime. Host spans are staged through a device buffer.
#include <memory>

#include "core/communicator.h"

namespace sp::dist {

// Throws InputError when this rank has no GPU of its own (more ranks on a node than GPUs).
std::unique_ptr<Communicator> make_nccl_communicator();

}  // namespace sp::dist
