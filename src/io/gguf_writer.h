#pragma once
// A GGUF (version 3) file writer: ggml's format for llama.cpp (ggml docs/gguf.md). Format only:
// typed key/values in the order added, tensor infos (name, dims, ggml type, offset), then the
// tensor data, each tensor aligned to general.alignment (32). What the keys and tensors mean for
// a model is model/gguf_export.h's business. Little-endian hosts only (as the files are).
//
// Tensor bytes are produced on demand while writing (one tensor in memory at a time), and the
// file is written atomically (io/atomic_file.h): a failed export leaves nothing under `path`.
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace sp::io {

// The ggml tensor types this writer emits (ggml_type values).
enum class GgufTensorType : uint32_t { F32 = 0, F16 = 1, BF16 = 30 };
size_t gguf_type_size(GgufTensorType t);
const char* gguf_type_name(GgufTensorType t);

class GgufWriter {
 public:
  static constexpr uint32_t kAlignment = 32;

  // Keys must be unique (a repeat is an InputError naming the key).
  void add_u32(const std::string& key, uint32_t v);
  void add_i32(const std::string& key, int32_t v);
  void add_f32(const std::string& key, float v);
  void add_bool(const std::string& key, bool v);
  void add_string(const std::string& key, const std::string& v);
  void add_string_array(const std::string& key, const std::vector<std::string>& v);
  void add_i32_array(const std::string& key, const std::vector<int32_t>& v);
  void add_f32_array(const std::string& key, const std::vector<float>& v);

  // ne: ggml dims, innermost first (a row-major [rows, cols] matrix is ne = {cols, rows}); 1 to 4
  // dims, each > 0. `bytes` is called once, while writing, and must return exactly
  // prod(ne) * gguf_type_size(type) bytes (else RuntimeFailure naming the tensor).
  using Bytes = std::function<std::vector<uint8_t>()>;
  void add_tensor(const std::string& name, std::vector<uint64_t> ne, GgufTensorType type, Bytes bytes);

  size_t kv_count() const { return kv_keys_.size(); }
  size_t tensor_count() const { return tensors_.size(); }
  // Writes the whole file to `path` atomically.
  void write(const std::string& path) const;

 private:
  struct TensorInfo {
    std::string name;
    std::vector<uint64_t> ne;
    GgufTensorType type;
    uint64_t nbytes;
    Bytes bytes;
  };
  void begin_kv(const std::string& key, uint32_t value_type);

  std::vector<std::string> kv_keys_;
  std::string kv_bytes_;  // the serialised key/value section
  std::vector<TensorInfo> tensors_;
};

}  // namespace sp::io
