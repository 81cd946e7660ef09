#include "model/rope.h"

#include <algorithm>
#include <cmath>
#include <numbers>

#include "core/error.h"

namespace sp::model {

namespace {

using Type = io::RopeScaling::Type;

// 1 / base^(2i / dim) for i < dim / 2: the unscaled RoPE frequencies.
std::vector<double> base_inv_freq(double base, int dim) {
  std::vector<double> f(size_t(dim / 2));
  for (int i = 0; i < dim / 2; ++i) f[size_t(i)] = 1.0 / std::pow(base, double(2 * i) / dim);
  return f;
}

// Llama 3.1: long wavelengths divided by factor, short ones kept, a smooth blend in between.
void llama3_scale(const io::RopeScaling& r, std::vector<double>& f) {
  const double old_len = r.original_max_positions;
  const double low_wavelen = old_len / r.low_freq_factor, high_wavelen = old_len / r.high_freq_factor;
  for (double& v : f) {
    const double wavelen = 2 * std::numbers::pi / v;
    if (wavelen > low_wavelen) {
      v /= r.factor;
    } else if (wavelen >= high_wavelen) {
      const double smooth = (old_len / wavelen - r.low_freq_factor) / (r.high_freq_factor - r.low_freq_factor);
      v = (1 - smooth) * v / r.factor + smooth * v;
    }
  }
}

double yarn_mscale(double scale, double m) { return scale <= 1 ? 1.0 : 0.1 * m * std::log(scale) + 1.0; }

// YaRN: interpolated (divided by factor) below the correction range, extrapolated (kept) above
// it, a linear ramp across it; the attention factor scales cos/sin.
double yarn_scale(const io::RopeScaling& r, double base, int dim, std::vector<double>& f) {
  // The dimension at which a frequency turns `rotations` times over the original context.
  auto correction_dim = [&](double rotations) {
    return dim * std::log(r.original_max_positions / (rotations * 2 * std::numbers::pi)) / (2 * std::log(base));
  };
  double low = correction_dim(r.beta_fast), high = correction_dim(r.beta_slow);
  if (r.truncate) {
    low = std::floor(low);
    high = std::ceil(high);
  }
  low = std::max(low, 0.0);
  high = std::min(high, double(dim - 1));
  if (low == high) high += 0.001;  // transformers' guard against a zero-width ramp
  for (size_t i = 0; i < f.size(); ++i) {
    const double ramp = std::clamp((double(i) - low) / (high - low), 0.0, 1.0);
    const double extrapolation = 1 - ramp;
    f[i] = f[i] / r.factor * (1 - extrapolation) + f[i] * extrapolation;
  }
  if (r.attention_factor > 0) return r.attention_factor;
  if (r.mscale != 0 && r.mscale_all_dim != 0)
    return yarn_mscale(r.factor, r.mscale) / yarn_mscale(r.factor, r.mscale_all_dim);
  return yarn_mscale(r.factor, 1.0);
}

// LongRoPE: each frequency divided by its short or long factor; the attention factor from the
// length ratio unless given (transformers' _compute_longrope_parameters).
double longrope_scale(const io::RopeScaling& r, int seq_len, std::vector<double>& f) {
  const std::vector<double>& ext = seq_len > r.original_max_positions ? r.long_factor : r.short_factor;
  SP_REQUIRE(ext.size() == f.size(), "RoPE: longrope has {} factors for {} frequencies", ext.size(), f.size());
  for (size_t i = 0; i < f.size(); ++i) f[i] /= ext[i];
  if (r.attention_factor > 0) return r.attention_factor;
  if (r.factor <= 1) return 1.0;
  return std::sqrt(1 + std::log(r.factor) / std::log(double(r.original_max_positions)));
}

bool local_rope(const io::ModelConfig& c, bool sliding) { return sliding && c.rope_local_base > 0; }

}  // namespace

bool rope_depends_on_length(const io::ModelConfig& c, int seq_len, bool sliding) {
  const io::RopeScaling& r = local_rope(c, sliding) ? c.rope_local : c.rope;
  if (r.type == Type::kLongRope) return seq_len > r.original_max_positions;
  return r.type == Type::kDynamic && seq_len > c.max_positions;
}

RopeTables::RopeTables(const io::ModelConfig& c) : base(rope_table(c)), sliding(rope_table(c, 0, /*sliding=*/true)) {
  if (c.rope.type == Type::kLongRope) long_factors = rope_table(c, c.rope.original_max_positions + 1);
}

const RopeTable* RopeTables::for_call(const io::ModelConfig& c, int seq_len, bool sliding_layer) const {
  if (!rope_depends_on_length(c, seq_len, sliding_layer)) return sliding_layer ? &sliding : &base;
  const bool longrope = !local_rope(c, sliding_layer) && c.rope.type == Type::kLongRope;
  return longrope ? &long_factors : nullptr;
}

bool rope_restarts_cache(const io::ModelConfig& c, int cached, int total) {
  return c.model_type == "phi3" && c.rope.type == Type::kLongRope && cached <= c.rope.original_max_positions &&
         total > c.rope.original_max_positions;
}

RopeTable rope_table(const io::ModelConfig& c, int seq_len, bool sliding) {
  const bool local = local_rope(c, sliding);
  const io::RopeScaling& r = local ? c.rope_local : c.rope;
  const double base = local ? c.rope_local_base : c.rope_base;
  const int dim = c.rope_dim();  // every rope type spreads its frequencies over the rotated dims only
  SP_REQUIRE(dim > 0 && dim % 2 == 0 && dim <= c.head_dim, "RoPE: rotary dimension {} must be even and at most {}", dim,
             c.head_dim);
  RopeTable t;
  switch (r.type) {
    case Type::kDefault:
      t.inv_freq = base_inv_freq(base, dim);
      break;
    case Type::kLinear:
      t.inv_freq = base_inv_freq(base, dim);
      for (double& v : t.inv_freq) v /= r.factor;
      break;
    case Type::kDynamic: {
      const double len = std::max(seq_len, c.max_positions);
      const double grown = base * std::pow(r.factor * len / c.max_positions - (r.factor - 1), double(dim) / (dim - 2));
      t.inv_freq = base_inv_freq(grown, dim);
      break;
    }
    case Type::kLlama3:
      t.inv_freq = base_inv_freq(base, dim);
      llama3_scale(r, t.inv_freq);
      break;
    case Type::kYarn:
      t.inv_freq = base_inv_freq(base, dim);
      t.attention_factor = yarn_scale(r, base, dim, t.inv_freq);
      break;
    case Type::kLongRope:
      t.inv_freq = base_inv_freq(base, dim);
      t.attention_factor = longrope_scale(r, seq_len, t.inv_freq);
      break;
  }
  t.inv_freq_f32.assign(t.inv_freq.begin(), t.inv_freq.end());
  return t;
}

}  // namespace sp::model
