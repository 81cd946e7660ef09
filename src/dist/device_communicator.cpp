#include "dist/device_communicator.h"

#if STRUPRUNE_WITH_CUDA
#include "dist/nccl_communicator.h"
#endif

namespace sp::dist {

std::unique_ptr<Communicator> make_device_communicator(const Device& device, int ranks) {
#if STRUPRUNE_WITH_CUDA
  if (device.is_cuda() && ranks > 1) return make_nccl_communicator();
#endif
  (void)device;
  (void)ranks;
  return nullptr;
}

}  // namespace sp::dist
