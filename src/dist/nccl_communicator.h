#pragma once
// NCCL implementation of Communicator (the GPU collective path), bootstrapped the nccl-tests way:
// rank 0 creates the unique id, MPI_Bcast hands it to every rank, each rank drives the GPU picked
// by the binding rule (dist/gpu_binding.h). Needs a live MpiRuntime. Host spans are staged through
// a device buffer.
#include <memory>

#include "core/communicator.h"

namespace sp::dist {

// On CUDA device `device` (-1: the one gpu_for_rank picks for this rank). Collective. Throws
// InputError, on every rank, when a rank has no GPU of its own (ranks sharing a GPU: compared by
// UUID, whatever CUDA_VISIBLE_DEVICES numbering each rank sees).
std::unique_ptr<Communicator> make_nccl_communicator(int device = -1);

}  // namespace sp::dist
