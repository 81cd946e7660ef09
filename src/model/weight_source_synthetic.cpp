// Synthetic WeightSource: real shapes, weights from a counter-based hash of (seed, tensor name,
// element index), so any tensor (hence any layer) is generated independently and identically
// whatever was generated before.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <numbers>
#include <thread>
#include <vector>

#include "core/error.h"
#include "core/log.h"
#include "kernels/ops.h"
#include "model/weight_source.h"

namespace sp::model {
namespace {

uint64_t splitmix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

uint64_t fnv1a(const std::string& s) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char ch : s) h = (h ^ ch) * 0x100000001b3ull;
  return h;
}

// Uniform in (0, 1) from the top 53 bits.
double unit(uint64_t r) { return (double(r >> 11) + 0.5) * 0x1.0p-53; }

// p[i] ~ normal(0, stddev) for i in [begin, end) (begin even): Box-Muller on two hashed uniforms per pair.
void fill_normal(float* p, uint64_t key, int64_t begin, int64_t end, float stddev) {
  for (int64_t i = begin; i < end; i += 2) {
    const uint64_t r1 = splitmix64(key + uint64_t(i)), r2 = splitmix64(r1 ^ 0x5851f42d4c957f2dull);
    const double rad = std::sqrt(-2.0 * std::log(unit(r1))) * stddev, ang = 2.0 * std::numbers::pi * unit(r2);
    p[i] = float(rad * std::cos(ang));
    if (i + 1 < end) p[i + 1] = float(rad * std::sin(ang));
  }
}

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
  std::vector<std::string> unused() const override { return {}; }

  Tensor load(const TensorSpec& spec, DType dtype, Device device) override {
    Tensor t = Tensor::empty(spec.shape, DType::F32);
    float* p = t.data<float>();
    const int64_t n = t.numel();
    if (role_is_norm_weight(spec.role)) {
      for (int64_t i = 0; i < n; ++i) p[i] = 1.f;
    } else if (role_is_bias(spec.role)) {
      for (int64_t i = 0; i < n; ++i) p[i] = 0.f;
    } else {
      const uint64_t key = splitmix64(seed_ ^ splitmix64(fnv1a(spec.name)));
      // Element values depend only on (key, index): threads over even-sized chunks change nothing.
      const int64_t kChunk = int64_t(1) << 22;
      const int64_t n_chunks = (n + kChunk - 1) / kChunk;
      const int n_threads = int(std::min<int64_t>(n_chunks, std::max(1u, std::thread::hardware_concurrency())));
      auto worker = [&](int w) {
        for (int64_t c = w; c < n_chunks; c += n_threads)
          fill_normal(p, key, c * kChunk, std::min(n, (c + 1) * kChunk), stddev_);
      };
      std::vector<std::thread> pool;
      for (int w = 1; w < n_threads; ++w) pool.emplace_back(worker, w);
      worker(0);
      for (auto& th : pool) th.join();
    }
    if (dtype != DType::F32) {
      ExecContext host(Device::cpu());
      t = ops::convert(host, t, dtype);
    }
    return device.is_cpu() ? t : t.to(device);
  }

 private:
  io::ModelConfig config_;
  uint64_t seed_;
  float stddev_;
  std::string label_;
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
