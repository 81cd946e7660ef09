#include "dist/device_communicator.h"

#include "core/error.h"

#if STRUPRUNE_WITH_CUDA
#include "dist/nccl_communicator.h"
#endif

namespace sp::dist {

bool nccl_built() {
#if STRUPRUNE_WITH_CUDA
  return true;
#else
  return false;
#endif
}

std::string choose_collectives(Collectives asked, bool on_gpu, int ranks, int max_ranks_per_gpu, bool nccl) {
  if (asked == Collectives::Nccl) {
    SP_REQUIRE(nccl, "runtime.communicator = nccl, but this binary was built without CUDA / NCCL");
    SP_REQUIRE(on_gpu,
               "runtime.communicator = nccl needs a GPU per rank, but the run computes on the CPU "
               "(runtime.device)");
    SP_REQUIRE(max_ranks_per_gpu <= 1,
               "runtime.communicator = nccl needs a GPU per rank, but {} ranks share one GPU; start at most one rank "
               "per GPU, or set runtime.communicator: mpi (or auto)",
               max_ranks_per_gpu);
  }
  if (ranks <= 1) return "self";
  if (!on_gpu || asked == Collectives::Mpi) return "mpi";
  return nccl && max_ranks_per_gpu <= 1 ? "nccl" : "mpi";
}

std::unique_ptr<Communicator> make_device_communicator(const std::string& backend, const Device& device) {
#if STRUPRUNE_WITH_CUDA
  if (backend == "nccl") return make_nccl_communicator(device.index);
#endif
  SP_CHECK(backend != "nccl", "make_device_communicator: nccl in a build without it");
  (void)device;
  return nullptr;
}

}  // namespace sp::dist
