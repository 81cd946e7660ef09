// The CUDA half of gpu_binding.h: a GPU's UUID, which names the physical device whatever index
// CUDA_VISIBLE_DEVICES gives it in a process.
#include <cuda_runtime.h>
#include <fmt/format.h>

#include "core/error.h"
#include "dist/gpu_binding.h"

namespace sp::dist {

std::string gpu_uuid(int index) {
  cudaDeviceProp prop{};
  const cudaError_t e = cudaGetDeviceProperties(&prop, index);
  if (e != cudaSuccess) {
    cudaGetLastError();
    throw RuntimeFailure(fmt::format("cannot read the properties of cuda:{}: {}", index, cudaGetErrorString(e)));
  }
  std::string s = "GPU-";
  for (int i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) s += '-';
    s += fmt::format("{:02x}", static_cast<unsigned char>(prop.uuid.bytes[i]));
  }
  return s;
}

}  // namespace sp::dist
