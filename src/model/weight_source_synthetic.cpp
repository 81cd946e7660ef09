// Synthetic WeightSource: real shapes, weights from a counter-based hash of (seed, tensor name,
// element index), so any tensor (hence any layer) is generated independently and identically
// whatever was generated before.
#include <fmt/format.h>

#include <map>
#include <memory>
#include <vector>

#include "core/error.h"
#include "core/fnv.h"
#include "core/log.h"
#include "kernels/ops.h"
#include "kernels/synthetic_normal.h"
#include "model/weight_source.h"

namespace sp::model {
namespace {

class SyntheticSource final : public WeightSource {
 public:
  SyntheticSource(io::ModelConfig c, uint64_t seed, float stddev, std::string label)
      : config_(std::move(c)), seed_(seed), stddev_(stddev), label_(std::move(label)) {
    SP_REQUIRE(stddev > 0.f, "synthetic weights: stddev {} must be > 0", stddev);
    SP_LOG_INFO("{}", describe());
  }

  const io::ModelConfig& config() const override { return config_; }
  std::string describe() const override {
    return fmt::format("SYNTHETIC weights (seed {}, normal(0, {})) with the shapes of {} ({}, {} layers)", seed_,
                       stddev_, label_, config_.model_type, config_.n_layers);
  }
  bool synthetic() const override { return true; }
  void validate(const std::vector<TensorSpec>&, const std::vector<std::string>&) override {}

  // Generated where it is used: on a GPU the weights never cross PCIe (a 7B layer in
  // milliseconds instead of ~0.5 s of host threads); the values are those of the CPU.
  Tensor load(const TensorSpec& spec, DType dtype, Device device) override {
    ExecContext& ctx = context(device);
    Tensor t = Tensor::empty(spec.shape, DType::F32, device);
    if (role_is_norm_weight(spec.role) || role_is_bias(spec.role)) {
      // Norms start as the identity: weight 1, or 0 where the norm multiplies by (1 + w) (Gemma).
      const float one = 1.f - config_.norm_offset;
      const std::vector<float> v(size_t(t.numel()), role_is_bias(spec.role) ? 0.f : one);
      t.copy_from(Tensor::from_f32(v, spec.shape));
    } else {
      // A fused role's own stream: its name with the first row (q, k and v share qkv_proj).
      const std::string key = spec.fused() ? fmt::format("{}@{}", spec.name, spec.row0) : spec.name;
      ops::synthetic_normal_(ctx, t, synthetic::splitmix64(seed_ ^ synthetic::splitmix64(fnv1a(key))), stddev_);
    }
    return dtype == DType::F32 ? t : ops::convert(ctx, t, dtype);
  }

 private:
  io::ModelConfig config_;
  uint64_t seed_;
  float stddev_;
  std::string label_;
  std::map<std::string, std::unique_ptr<ExecContext>> contexts_;  // one per device used
  ExecContext& context(const Device& d) {
    auto& c = contexts_[d.str()];
    if (!c) c = std::make_unique<ExecContext>(d);
    return *c;
  }
};

}  // namespace

std::unique_ptr<WeightSource> make_synthetic_source(io::ModelConfig config, uint64_t seed, float stddev,
                                                    std::string config_label) {
  return std::make_unique<SyntheticSource>(std::move(config), seed, stddev, std::move(config_label));
}

std::unique_ptr<WeightSource> open_synthetic_source(const std::string& config_json, uint64_t seed, float stddev) {
  return make_synthetic_source(io::load_model_config(config_json), seed, stddev, config_json);
}

}  // namespace sp::model
