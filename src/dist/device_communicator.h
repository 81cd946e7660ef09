#pragma once
// The collectives the prune sums its statistics with (runtime.communicator): NCCL, on the devices,
// when every rank of a multi-rank GPU run has a GPU of its own; MPI otherwise (device tensors staged
// through page-locked host memory), so that several ranks may share one GPU.
#include <memory>
#include <string>

#include "core/communicator.h"
#include "core/device.h"
#include "core/enum_names.h"

namespace sp::dist {

enum class Collectives { Auto, Nccl, Mpi };
inline constexpr EnumName<Collectives> kCollectivesNames[] = {
    {Collectives::Auto, "auto"}, {Collectives::Nccl, "nccl"}, {Collectives::Mpi, "mpi"}};
inline const char* to_string(Collectives c) { return enum_name<Collectives>(kCollectivesNames, c); }

// The backend a run uses: "self" for one rank, "mpi" on the CPU, and on GPUs "nccl" for auto when
// the build has NCCL and no two ranks share a GPU (max_ranks_per_gpu == 1), else "mpi". Asking for
// nccl where it cannot run (CPU, no NCCL in the build, ranks sharing a GPU) is an InputError naming
// runtime.communicator. Pure; every rank passes the same values.
std::string choose_collectives(Collectives asked, bool on_gpu, int ranks, int max_ranks_per_gpu, bool nccl_built);

bool nccl_built();

// The NCCL communicator on `device` for backend "nccl" (collective: every rank calls it), null
// otherwise (the MPI communicator serves).
std::unique_ptr<Communicator> make_device_communicator(const std::string& backend, const Device& device);

}  // namespace sp::dist
