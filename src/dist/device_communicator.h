#pragma once
// The collectives for the device a rank computes on: on GPUs the statistics are summed where they
// live (NCCL), on CPUs the MPI communicator already is the right one.
#include <memory>

#include "core/communicator.h"
#include "core/device.h"

namespace sp::dist {

// NCCL for a CUDA device when the build has it and more than one rank runs, otherwise null (keep
// the MPI communicator). Collective: every rank calls it with the same kind of device.
std::unique_ptr<Communicator> make_device_communicator(const Device& device, int ranks);

}  // namespace sp::dist
