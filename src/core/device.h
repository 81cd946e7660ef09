#pragma once
// The device layer: where memory lives and how bytes move between host and GPU.
// Only this layer (device_cuda.cpp) and src/kernels/cuda talk to the CUDA runtime.
#include <cstddef>
#include <cstdint>
#include <string>

namespace sp {

enum class DeviceType : uint8_t { CPU, CUDA };

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

// Allocation accounting, per device type, for the report's peak-memory figures.
struct MemoryStats {
  size_t current = 0;
  size_t peak = 0;
};
MemoryStats memory_stats(DeviceType t);
void reset_peak_memory(DeviceType t);

}  // namespace sp
