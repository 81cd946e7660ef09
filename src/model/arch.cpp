// The architecture registry, keyed by model family.
#include "model/arch.h"

#include <algorithm>

#include "core/error.h"

namespace sp::model {

Shape TensorSpec::stored_shape() const {
  if (!fused()) return shape;
  Shape s = shape;
  s[0] = fused_rows;
  return s;
}

std::vector<StoredTensor> stored_tensors(const std::vector<TensorSpec>& specs) {
  std::vector<StoredTensor> out;
  for (const TensorSpec& s : specs) {
    auto it = std::find_if(out.begin(), out.end(), [&](const StoredTensor& t) { return t.name == s.name; });
    if (it == out.end()) {
      out.push_back({s.name, s.stored_shape(), {&s}});
    } else {
      SP_CHECK(
          s.fused() && it->shape == s.stored_shape() && s.row0 == it->parts.back()->row0 + it->parts.back()->shape[0],
          "tensor {}: parts do not tile it in row order", s.name);
      it->parts.push_back(&s);
    }
  }
  for (const StoredTensor& t : out) {
    const TensorSpec& last = *t.parts.back();
    SP_CHECK(t.parts.front()->row0 == 0 && last.row0 + last.shape[0] == t.shape[0],
             "tensor {}: parts cover {} of its {} rows", t.name, last.row0 + last.shape[0], t.shape[0]);
  }
  return out;
}

const Arch& arch_for(const io::ModelConfig& c) {
  switch (c.family) {
    case io::ArchFamily::Llama:
      return llama_arch();
    case io::ArchFamily::Opt:
      return opt_arch();
    case io::ArchFamily::Gemma:
      return gemma_arch();
  }
  throw_input("config.json: model_type '{}' has no engine architecture", c.model_type);
}

}  // namespace sp::model
