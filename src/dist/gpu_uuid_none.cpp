// Without CUDA no rank has a GPU: gpu_binding.h's UUID is empty.
#include "dist/gpu_binding.h"

namespace sp::dist {

std::string gpu_uuid(int) { return {}; }

}  // namespace sp::dist
