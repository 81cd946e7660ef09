#pragma once
// The device layer: where memory lives and how bytes move between host and GPU.
// Only this layer (context_cuda.cpp) and src/kernels/cuda talk to the CUDA runtime.
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>

#include "core/enum_names.h"

namespace sp {

enum class DeviceType : uint8_t { CPU, CUDA };
inline constexpr EnumName<DeviceType> kDeviceTypeNames[] = {{DeviceType::CPU, "cpu"}, {DeviceType::CUDA, "cuda"}};

struct Device {
  DeviceType type = DeviceType::CPU;
  int index = 0;
  static Device cpu() { return {DeviceType::CPU, 0}; }
  static Device cuda(int i = 0) { return {DeviceType::CUDA, i}; }
  bool is_cpu() const { return type == DeviceType::CPU; }
  bool is_cuda() const { return type == DeviceType::CUDA; }
  bool operator==(const Device& o) const { return type == o.type && index == o.index; }
  std::string str() const;
};

bool built_with_cuda();
int cuda_device_count();  // 0 without CUDA build or without a GPU

void* device_malloc(Device d, size_t bytes);
void device_free(Device d, void* p) noexcept;
// Synchronous copy between any two devices (host<->device, device<->device, host<->host).
void device_copy(void* dst, Device dst_dev, const void* src, Device src_dev, size_t bytes);
void device_memset0(Device d, void* p, size_t bytes);

// Host memory for staging copies to a GPU: page-locked where the binary has CUDA and a GPU is
// visible (host-to-device copies from it run at the link's full rate, with no driver bounce
// buffer), plain aligned host memory otherwise. Owns its bytes; movable, not copyable.
class StagingBuffer {
 public:
  StagingBuffer() = default;
  explicit StagingBuffer(size_t bytes);
  ~StagingBuffer();
  StagingBuffer(StagingBuffer&& o) noexcept { *this = std::move(o); }
  StagingBuffer& operator=(StagingBuffer&& o) noexcept;
  StagingBuffer(const StagingBuffer&) = delete;
  StagingBuffer& operator=(const StagingBuffer&) = delete;
  void* data() const { return p_; }
  size_t size() const { return bytes_; }
  bool page_locked() const { return locked_; }

 private:
  void release() noexcept;
  void* p_ = nullptr;
  size_t bytes_ = 0;
  bool locked_ = false;
};

// Allocation accounting, per device type, for the report's peak-memory figures.
struct MemoryStats {
  size_t current = 0;
  size_t peak = 0;
};
MemoryStats memory_stats(DeviceType t);
void reset_peak_memory(DeviceType t);

}  // namespace sp
