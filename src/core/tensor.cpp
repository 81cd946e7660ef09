#include "core/tensor.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace sp {

void note_free(DeviceType t, size_t bytes);  // device.cpp

std::string shape_str(const Shape& s) { return fmt::format("[{}]", fmt::join(s, ", ")); }

int64_t shape_numel(const Shape& s) {
  int64_t n = 1;
  for (auto d : s) n *= d;
  return n;
}

Buffer::Buffer(Device d, size_t bytes) : dev_(d), ptr_(device_malloc(d, bytes)), bytes_(bytes), owning_(true) {}

Buffer::Buffer(Device d, void* foreign, size_t bytes) : dev_(d), ptr_(foreign), bytes_(bytes), owning_(false) {}

Buffer::~Buffer() {
  if (owning_) {
    device_free(dev_, ptr_);
    note_free(dev_.type, bytes_ == 0 ? 1 : bytes_);
  }
}

Tensor Tensor::empty(Shape shape, DType dt, Device dev) {
  for (auto d : shape) SP_CHECK(d >= 0, "negative dimension in {}", shape_str(shape));
  Tensor t;
  t.shape_ = std::move(shape);
  t.dtype_ = dt;
  t.buf_ = std::make_shared<Buffer>(dev, t.nbytes());
  return t;
}

Tensor Tensor::zeros(Shape shape, DType dt, Device dev) {
  Tensor t = empty(std::move(shape), dt, dev);
  device_memset0(dev, t.raw(), t.nbytes());
  return t;
}

Tensor Tensor::view_of(void* data, Shape shape, DType dt, Device dev) {
  Tensor t;
  t.shape_ = std::move(shape);
  t.dtype_ = dt;
  t.buf_ = std::make_shared<Buffer>(dev, data, t.nbytes());
  return t;
}

Tensor Tensor::from_f32(const std::vector<float>& v, Shape shape) {
  SP_CHECK(int64_t(v.size()) == shape_numel(shape), "size {} vs shape {}", v.size(), shape_str(shape));
  Tensor t = empty(std::move(shape), DType::F32);
  std::copy(v.begin(), v.end(), t.data<float>());
  return t;
}

Tensor Tensor::from_i32(const std::vector<int32_t>& v, Shape shape) {
  SP_CHECK(int64_t(v.size()) == shape_numel(shape), "size {} vs shape {}", v.size(), shape_str(shape));
  Tensor t = empty(std::move(shape), DType::I32);
  std::copy(v.begin(), v.end(), t.data<int32_t>());
  return t;
}

int64_t Tensor::dim(int i) const {
  const int n = ndim();
  if (i < 0) i += n;
  SP_CHECK(i >= 0 && i < n, "dim {} of a {}-d tensor", i, n);
  return shape_[size_t(i)];
}

void* Tensor::raw() const {
  SP_CHECK(buf_, "use of an undefined tensor");
  return static_cast<char*>(buf_->data()) + offset_;
}

Tensor Tensor::reshape(Shape s) const {
  SP_CHECK(shape_numel(s) == numel(), "reshape {} -> {}", shape_str(shape_), shape_str(s));
  Tensor t = *this;
  t.shape_ = std::move(s);
  return t;
}

Tensor Tensor::slice_rows(int64_t begin, int64_t end) const {
  SP_CHECK(ndim() >= 1 && begin >= 0 && begin <= end && end <= shape_[0], "slice_rows({}, {}) of {}", begin, end,
           shape_str(shape_));
  Tensor t = *this;
  const size_t row_bytes = shape_[0] ? nbytes() / size_t(shape_[0]) : 0;
  t.offset_ += size_t(begin) * row_bytes;
  t.shape_[0] = end - begin;
  return t;
}

Tensor Tensor::to(Device d) const {
  Tensor t = empty(shape_, dtype_, d);
  device_copy(t.raw(), d, raw(), device(), nbytes());
  return t;
}

void Tensor::copy_from(const Tensor& src) {
  SP_CHECK(src.dtype() == dtype_ && src.numel() == numel(), "copy_from {} into {}", src.desc(), desc());
  device_copy(raw(), device(), src.raw(), src.device(), nbytes());
}

std::vector<double> Tensor::to_f64_vector() const {
  Tensor h = is_cpu() ? *this : to(Device::cpu());
  const int64_t n = numel();
  std::vector<double> out(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    switch (dtype_) {
      case DType::F32:
        out[size_t(i)] = h.data<float>()[i];
        break;
      case DType::F64:
        out[size_t(i)] = h.data<double>()[i];
        break;
      case DType::BF16:
        out[size_t(i)] = bf16_to_f32(h.data<uint16_t>()[i]);
        break;
      case DType::F16:
        out[size_t(i)] = f16_to_f32(h.data<uint16_t>()[i]);
        break;
      case DType::I32:
        out[size_t(i)] = h.data<int32_t>()[i];
        break;
      case DType::I64:
        out[size_t(i)] = double(h.data<int64_t>()[i]);
        break;
      case DType::U8:
        out[size_t(i)] = h.data<uint8_t>()[i];
        break;
    }
  }
  return out;
}

std::vector<float> Tensor::to_f32_vector() const {
  auto d = to_f64_vector();
  return std::vector<float>(d.begin(), d.end());
}

std::string Tensor::desc() const {
  return fmt::format("{}{} {}", dtype_name(dtype_), shape_str(shape_), device().str());
}

std::vector<Tensor> staged_tensors(StagingBuffer& staging, const std::vector<std::pair<Shape, DType>>& layout) {
  auto slot = [](const Shape& s, DType t) { return (size_t(shape_numel(s)) * dtype_size(t) + 255) / 256 * 256; };
  size_t total = 0;
  for (const auto& [s, t] : layout) total += slot(s, t);
  if (staging.size() < total) staging = StagingBuffer(total);
  std::vector<Tensor> out;
  size_t offset = 0;
  for (const auto& [s, t] : layout) {
    out.push_back(Tensor::view_of(static_cast<uint8_t*>(staging.data()) + offset, s, t, Device::cpu()));
    offset += slot(s, t);
  }
  return out;
}

}  // namespace sp
