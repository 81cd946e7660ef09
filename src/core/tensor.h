#pragma once
// Tensor: a contiguous, row-major n-d array on one device.
//
// Layout contract (stated once, here): row-major, last dimension fastest. Weights are Hugging
// Face Linear weights, [out_features, in_features]; a Linear computes y = x W^T (+ b) with
// activations x: [tokens, in_features]. A batch of windows is flattened to [batch*seq, hidden]
// with the window index major.
//
// A Tensor either owns its buffer (shared, reference counted) or views foreign memory (an mmap'd
// checkpoint); views never outlive the owner by contract of the caller.
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "core/device.h"
#include "core/dtype.h"
#include "core/error.h"

namespace sp {

using Shape = std::vector<int64_t>;
std::string shape_str(const Shape& s);
int64_t shape_numel(const Shape& s);

class Buffer {
 public:
  Buffer(Device d, size_t bytes);                 // owning allocation
  Buffer(Device d, void* foreign, size_t bytes);  // non-owning view
  ~Buffer();
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  void* data() const { return ptr_; }
  size_t bytes() const { return bytes_; }
  Device device() const { return dev_; }

 private:
  Device dev_;
  void* ptr_ = nullptr;
  size_t bytes_ = 0;
  bool owning_ = false;
};

class Tensor {
 public:
  Tensor() = default;
  static Tensor empty(Shape shape, DType dt, Device dev = Device::cpu());
  static Tensor zeros(Shape shape, DType dt, Device dev = Device::cpu());
  // Non-owning view of memory someone else keeps alive (e.g. an mmap'd file).
  static Tensor view_of(void* data, Shape shape, DType dt, Device dev = Device::cpu());
  // Host tensor copied from a vector.
  static Tensor from_f32(const std::vector<float>& v, Shape shape);
  static Tensor from_i32(const std::vector<int32_t>& v, Shape shape);

  bool defined() const { return buf_ != nullptr; }
  const Shape& shape() const { return shape_; }
  int64_t dim(int i) const;  // negative i counts from the end
  int ndim() const { return int(shape_.size()); }
  int64_t numel() const { return shape_numel(shape_); }
  size_t nbytes() const { return size_t(numel()) * dtype_size(dtype_); }
  DType dtype() const { return dtype_; }
  Device device() const { return buf_ ? buf_->device() : Device::cpu(); }
  bool is_cpu() const { return device().is_cpu(); }

  void* raw() const;
  template <typename T>
  T* data() const {
    return static_cast<T*>(raw());
  }

  // Same storage, new shape (numel must match).
  Tensor reshape(Shape s) const;
  // View of rows [begin, end) along dimension 0.
  Tensor slice_rows(int64_t begin, int64_t end) const;
  // Deep copy to a device (same dtype).
  Tensor to(Device d) const;
  // Host copy converted to float32 / float64 (any float dtype in); for tests and CPU math.
  std::vector<float> to_f32_vector() const;
  std::vector<double> to_f64_vector() const;
  Tensor clone() const { return to(device()); }
  // Copy all bytes of src (same dtype and numel) into this tensor.
  void copy_from(const Tensor& src);

  std::string desc() const;  // "BF16[8, 384] cuda:0"

 private:
  std::shared_ptr<Buffer> buf_;
  size_t offset_ = 0;  // bytes
  Shape shape_;
  DType dtype_ = DType::F32;
};

// Host tensors of the given shapes and dtypes laid out one after another (each 256-byte aligned)
// in `staging`, which is reallocated first when it is too small: views, valid until the buffer is
// reallocated or destroyed. The journal's and the layer read-ahead's host copies use it.
std::vector<Tensor> staged_tensors(StagingBuffer& staging, const std::vector<std::pair<Shape, DType>>& layout);

}  // namespace sp
