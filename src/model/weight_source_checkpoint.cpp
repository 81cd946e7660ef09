// WeightSource over a Hugging Face checkpoint folder.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <set>

#include "core/error.h"
#include "io/checkpoint.h"
#include "model/weight_source.h"

namespace sp::model {
namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

class CheckpointSource final : public WeightSource {
 public:
  explicit CheckpointSource(const std::string& dir)
      : config_(io::load_model_config(dir + "/config.json")), ckpt_(io::Checkpoint::open(dir)) {}

  const io::ModelConfig& config() const override { return config_; }
  std::string describe() const override { return fmt::format("checkpoint {}", ckpt_->dir()); }
  bool synthetic() const override { return false; }

  void validate(const std::vector<TensorSpec>& specs, const std::vector<std::string>& ignored_suffixes) override {
    std::set<std::string> wanted;
    for (const TensorSpec& s : specs) {
      SP_REQUIRE(ckpt_->has(s.name), "{}: tensor '{}' ({}, expected shape {}) is missing from the checkpoint",
                 ckpt_->dir(), s.name, role_name(s.role), shape_str(s.shape));
      const io::TensorEntry& e = ckpt_->info(s.name);
      SP_REQUIRE(e.shape == s.stored_shape(), "{}: tensor '{}' in {} has shape {}; config.json implies {}",
                 ckpt_->dir(), s.name, ckpt_->file_of(s.name), shape_str(e.shape), shape_str(s.stored_shape()));
      wanted.insert(s.name);
    }
    std::vector<std::string> unexpected;
    for (const std::string& n : ckpt_->names()) {
      if (wanted.count(n)) continue;
      bool ignored = false;
      for (const std::string& suf : ignored_suffixes) ignored = ignored || ends_with(n, suf);
      // A tied model may still store lm_head.weight (a copy of the embedding): transformers ignores it.
      ignored = ignored || (config_.tie_embeddings && n == "lm_head.weight");
      if (!ignored) unexpected.push_back(n);
    }
    SP_REQUIRE(unexpected.empty(),
               "{}: {} tensor(s) are not used by the {} architecture with this config.json (a variant the engine does "
               "not implement, or a config that does not match the weights): {}",
               ckpt_->dir(), unexpected.size(), config_.model_type, fmt::join(unexpected, ", "));
  }

  Tensor load(const TensorSpec& spec, DType dtype, Device device) override {
    Tensor host = Tensor::empty(spec.shape, dtype, Device::cpu());
    load_into(spec, dtype, host.raw());
    return device.is_cpu() ? host : host.to(device);
  }

  bool loads_to_host() const override { return true; }
  // A fused role (Phi-3's q, k, v, gate, up) is its rows of the stored tensor.
  void load_into(const TensorSpec& spec, DType dtype, void* dst) override {
    const int64_t rows = spec.shape.empty() ? 1 : spec.shape[0];
    ckpt_->load_rows_into(spec.name, spec.row0, rows, dtype, dst, spec.stored_shape());
  }


 private:
  io::ModelConfig config_;
  std::unique_ptr<io::Checkpoint> ckpt_;
};

}  // namespace

void WeightSource::load_into(const TensorSpec& spec, DType, void*) {
  SP_CHECK(false, "{}: '{}' has no host copy to load (loads_to_host() is false)", describe(), spec.name);
}

std::unique_ptr<WeightSource> open_checkpoint_source(const std::string& model_dir) {
  return std::make_unique<CheckpointSource>(model_dir);
}

}  // namespace sp::model
