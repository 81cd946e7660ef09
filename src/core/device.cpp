#include "core/device.h"

#include <fmt/format.h>

#include <atomic>
#include <cstdlib>
#include <cstring>

#include "core/error.h"

namespace sp {

// CUDA bodies live in context_cuda.cpp (CUDA build) or device_nocuda.cpp (CPU-only build).
void* cuda_malloc_impl(int index, size_t bytes);
void cuda_free_impl(int index, void* p) noexcept;
void cuda_copy_impl(void* dst, Device dd, const void* src, Device sd, size_t bytes);
void cuda_memset0_impl(int index, void* p, size_t bytes);
void* cuda_host_alloc_impl(size_t bytes) noexcept;  // nullptr when page-locked memory is not to be had
void cuda_host_free_impl(void* p) noexcept;

namespace {
struct Counter {
  std::atomic<size_t> current{0};
  std::atomic<size_t> peak{0};
};
Counter g_counters[2];

void count_alloc(DeviceType t, size_t bytes) {
  auto& c = g_counters[int(t)];
  const size_t now = c.current.fetch_add(bytes) + bytes;
  size_t p = c.peak.load();
  while (now > p && !c.peak.compare_exchange_weak(p, now)) {
  }
}
}  // namespace

std::string Device::str() const { return is_cpu() ? "cpu" : fmt::format("cuda:{}", index); }

void* device_malloc(Device d, size_t bytes) {
  if (bytes == 0) bytes = 1;
  void* p = nullptr;
  if (d.is_cpu()) {
    p = std::aligned_alloc(64, (bytes + 63) / 64 * 64);
    if (!p) throw RuntimeFailure(fmt::format("host allocation of {} bytes failed", bytes));
  } else {
    p = cuda_malloc_impl(d.index, bytes);
  }
  count_alloc(d.type, bytes);
  return p;
}

void device_free(Device d, void* p) noexcept {
  if (!p) return;
  if (d.is_cpu())
    std::free(p);
  else
    cuda_free_impl(d.index, p);
}

// Allocation sizes are tracked by the Buffer that owns the pointer (see tensor.cpp).
void note_free(DeviceType t, size_t bytes) { g_counters[int(t)].current.fetch_sub(bytes); }

void device_copy(void* dst, Device dd, const void* src, Device sd, size_t bytes) {
  if (bytes == 0) return;
  if (dd.is_cpu() && sd.is_cpu()) {
    std::memcpy(dst, src, bytes);
    return;
  }
  cuda_copy_impl(dst, dd, src, sd, bytes);
}

void device_memset0(Device d, void* p, size_t bytes) {
  if (d.is_cpu())
    std::memset(p, 0, bytes);
  else
    cuda_memset0_impl(d.index, p, bytes);
}

StagingBuffer::StagingBuffer(size_t bytes) : bytes_(bytes) {
  if (bytes == 0) return;
  if (cuda_device_count() > 0) p_ = cuda_host_alloc_impl(bytes);
  locked_ = p_ != nullptr;
  if (!p_) p_ = std::aligned_alloc(64, (bytes + 63) / 64 * 64);
  if (!p_) throw RuntimeFailure(fmt::format("host allocation of {} bytes failed", bytes));
}

StagingBuffer::~StagingBuffer() { release(); }

StagingBuffer& StagingBuffer::operator=(StagingBuffer&& o) noexcept {
  if (this != &o) {
    release();
    p_ = std::exchange(o.p_, nullptr);
    bytes_ = std::exchange(o.bytes_, 0);
    locked_ = std::exchange(o.locked_, false);
  }
  return *this;
}

void StagingBuffer::release() noexcept {
  if (!p_) return;
  if (locked_)
    cuda_host_free_impl(p_);
  else
    std::free(p_);
  p_ = nullptr;
}

MemoryStats memory_stats(DeviceType t) { return {g_counters[int(t)].current.load(), g_counters[int(t)].peak.load()}; }

void reset_peak_memory(DeviceType t) { g_counters[int(t)].peak.store(g_counters[int(t)].current.load()); }

}  // namespace sp
