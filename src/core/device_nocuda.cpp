// CPU-only build: every CUDA entry point explains that the binary has no CUDA backend.
#include "core/device.h"
#include "core/error.h"

namespace sp {

[[noreturn]] static void no_cuda() {
  throw InputError("this binary was built without CUDA (-DSTRUPRUNE_CUDA=OFF); use device: cpu");
}

bool built_with_cuda() { return false; }
int cuda_device_count() { return 0; }
void* cuda_malloc_impl(int, size_t) { no_cuda(); }
void cuda_free_impl(int, void*) noexcept {}
void cuda_copy_impl(void*, Device, const void*, Device, size_t) { no_cuda(); }
void cuda_memset0_impl(int, void*, size_t) { no_cuda(); }
void* cuda_host_alloc_impl(size_t) noexcept { return nullptr; }
void cuda_host_free_impl(void*) noexcept {}

}  // namespace sp
