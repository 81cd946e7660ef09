// bench_forward: per-layer forward throughput on the GPU against the cuBLAS GEMM time of the same
// layer's Linear shapes (the floor the layer cannot beat), plus a per-op timing table.
//
//   bench_forward --model NAME:CONFIG_JSON:SEQLEN:WINDOWS[,WINDOWS...] [--model ...] [--json OUT]
//
// Weights are SYNTHETIC (the engine's seeded source) with the shapes of the given config.json; the
// vocabulary is cut to 1024 and the depth to one layer, since neither changes a decoder layer's cost.
// Times: CUDA events on the context stream, warm-up first, median of --iters runs; the layer's input
// is restored before every run so each run sees the same data. Inputs are random, never zeros.
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "bench/gpu_timer.h"
#include "core/context.h"
#include "core/device.h"
#include "core/error.h"
#include "core/log.h"
#include "kernels/ops.h"
#include "kernels/ops_linalg.h"
#include "model/model.h"
#include "model/rope.h"
#include "model/weight_source.h"

using nlohmann::json;

namespace sp::bench {
namespace {

struct ModelSpec {
  std::string name, config;
  int seqlen = 0;
  std::vector<int> windows;
};

ModelSpec parse_spec(const std::string& s) {
  // NAME:PATH:SEQLEN:W1,W2 (PATH may not contain ':').
  std::vector<std::string> parts;
  size_t at = 0;
  for (size_t p; (p = s.find(':', at)) != std::string::npos; at = p + 1) parts.push_back(s.substr(at, p - at));
  parts.push_back(s.substr(at));
  SP_REQUIRE(parts.size() == 4, "--model '{}': expected NAME:CONFIG_JSON:SEQLEN:WINDOWS", s);
  ModelSpec m{parts[0], parts[1], std::stoi(parts[2]), {}};
  for (size_t b = 0, e; b <= parts[3].size(); b = e + 1) {
    e = parts[3].find(',', b);
    if (e == std::string::npos) e = parts[3].size();
    m.windows.push_back(std::stoi(parts[3].substr(b, e - b)));
  }
  return m;
}

// Random tensor in [-1, 1) of dtype dt on the context device.
Tensor random_tensor(ExecContext& ctx, Shape shape, DType dt, uint32_t seed) {
  std::mt19937 g(seed);
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  std::vector<float> v(static_cast<size_t>(shape_numel(shape)));
  for (auto& x : v) x = u(g);
  ExecContext host(Device::cpu());
  Tensor t = ops::convert(host, Tensor::from_f32(v, std::move(shape)), dt);
  return t.to(ctx.device());
}

struct Linear {
  std::string name;
  const Tensor* w;
  const Tensor* b;
};

std::vector<Linear> linears_of(const model::LayerWeights& w) {
  std::vector<Linear> out;
  auto add = [&](const char* n, const Tensor& wt, const Tensor& bt) {
    if (wt.defined()) out.push_back({n, &wt, &bt});
  };
  add("q_proj", w.q_w, w.q_b);
  add("k_proj", w.k_w, w.k_b);
  add("v_proj", w.v_w, w.v_b);
  add("o_proj", w.o_w, w.o_b);
  add("gate_proj", w.gate_w, w.gate_b);
  add("up_proj/fc1", w.up_w, w.up_b);
  add("down_proj/fc2", w.down_w, w.down_b);
  return out;
}

// Measured ceilings of this device: bf16 GEMM rate (8192^3, random data) and copy bandwidth.
json ceilings(ExecContext& ctx, GpuTimer& timer) {
  const int64_t n = 8192;
  Tensor a = random_tensor(ctx, {n, n}, DType::BF16, 1), b = random_tensor(ctx, {n, n}, DType::BF16, 2);
  const double gemm_ms = timer.median_ms([&] { (void)ops::linear(ctx, a, b, Tensor(), Precision::BF16); }, 3, 10);
  const double tflops = 2.0 * double(n) * double(n) * double(n) / (gemm_ms * 1e-3) / 1e12;
  Tensor big = Tensor::empty({int64_t(1) << 30}, DType::U8, ctx.device());
  Tensor dst = Tensor::empty({int64_t(1) << 30}, DType::U8, ctx.device());
  const double copy_ms = timer.median_ms([&] { ops::copy_(ctx, dst, big); }, 2, 10);
  const double gbps = 2.0 * double(big.nbytes()) / (copy_ms * 1e-3) / 1e9;  // read + write
  fmt::print("device ceilings: bf16 GEMM {}^3 {:.3f} ms = {:.0f} TFLOP/s; D2D copy {:.0f} GB/s (read+write)\n", n,
             gemm_ms, tflops, gbps);
  return {{"bf16_gemm_8192_ms", gemm_ms}, {"bf16_gemm_tflops", tflops}, {"copy_gbps", gbps}};
}

// The layer's other ops, one by one, on tensors of the layer's shapes (LLaMA: RMSNorm, RoPE,
// SwiGLU; OPT: LayerNorm, ReLU; both: attention, residual add).
json time_other_ops(ExecContext& ctx, GpuTimer& timer, const model::Model& m, const model::LayerWeights& w,
                    const Tensor& input, const Tensor& positions, int batch, int seqlen, int iters) {
  const io::ModelConfig& cfg = m.config();
  const int64_t tokens = input.dim(0);
  const int hd = cfg.head_dim, nh = w.shape.n_heads, nkv = w.shape.n_kv_heads;
  json t = json::object();
  const bool opt = w.attn_norm_b.defined();
  if (opt)
    t["layer_norm"] = timer.median_ms(
        [&] { (void)ops::layer_norm(ctx, input, w.attn_norm_w, w.attn_norm_b, cfg.norm_eps); }, 2, iters);
  else
    t["rms_norm"] = timer.median_ms([&] { (void)ops::rms_norm(ctx, input, w.attn_norm_w, cfg.norm_eps); }, 2, iters);
  Tensor q = random_tensor(ctx, {tokens, int64_t(nh) * hd}, DType::BF16, 21);
  Tensor k = random_tensor(ctx, {tokens, int64_t(nkv) * hd}, DType::BF16, 22);
  Tensor v = random_tensor(ctx, {tokens, int64_t(nkv) * hd}, DType::BF16, 23);
  if (!opt) {
    const model::RopeTable rope = model::rope_table(cfg);
    const float f = float(rope.attention_factor);
    t["rope_q"] = timer.median_ms([&] { ops::rope_(ctx, q, positions, nh, hd, cfg.rope_dim(), rope.inv_freq_f32, f); }, 2, iters);
    t["rope_k"] = timer.median_ms([&] { ops::rope_(ctx, k, positions, nkv, hd, cfg.rope_dim(), rope.inv_freq_f32, f); }, 2, iters);
  }
  ops::AttentionShape s;
  s.batch = batch;
  s.q_len = s.kv_len = s.kv_stride = seqlen;
  s.n_heads = nh;
  s.n_kv_heads = nkv;
  s.head_dim = hd;
  s.scale = 1.f / std::sqrt(float(hd));
  const double attn_ms = timer.median_ms([&] { (void)ops::attention(ctx, q, k, v, s); }, 2, iters);
  // Causal attention: QK^T and PV over the lower triangle.
  const double attn_flops = 4.0 * batch * nh * hd * (double(seqlen) * (seqlen + 1) / 2.0);
  t["attention"] = attn_ms;
  t["attention_tflops"] = attn_flops / (attn_ms * 1e-3) / 1e12;
  const int64_t inter = w.shape.intermediate;
  Tensor g = random_tensor(ctx, {tokens, inter}, DType::BF16, 24);
  if (w.gate_w.defined()) {
    Tensor u = random_tensor(ctx, {tokens, inter}, DType::BF16, 25);
    t["silu_mul"] = timer.median_ms([&] { (void)ops::gated_act(ctx, g, u, ops::GateAct::kSilu); }, 2, iters);
  } else {
    t["relu"] = timer.median_ms([&] { ops::relu_(ctx, g); }, 2, iters);
  }
  Tensor acc = input.clone();
  t["residual_add"] = timer.median_ms([&] { ops::add_(ctx, acc, input); }, 2, iters);
  std::string line;
  for (auto it = t.begin(); it != t.end(); ++it)
    line += fmt::format("  {} {:.3f}{}", it.key(), it.value().get<double>(), it.key() == "attention_tflops" ? "" : " ms");
  fmt::print("    ops:{}\n", line);
  return t;
}

json bench_model(ExecContext& ctx, GpuTimer& timer, const ModelSpec& spec, int iters, double peak_tflops) {
  std::ifstream f(spec.config);
  SP_REQUIRE(f.good(), "cannot open config {}", spec.config);
  json raw = json::parse(f);
  raw["num_hidden_layers"] = 1;  // one layer is what is measured
  raw["vocab_size"] = 1024;      // the LM head is not part of a layer
  io::ModelConfig cfg = io::parse_model_config(raw, spec.config);
  model::Model m(model::make_synthetic_source(cfg, 7, 0.02f, spec.name + " (" + spec.config + ")"), ctx,
                 Precision::BF16);
  model::LayerWeights w = m.load_layer(ctx, 0);
  const auto lin = linears_of(w);
  json out = {{"model", spec.name}, {"config", spec.config}, {"weights", "SYNTHETIC (seed 7)"},
              {"dtype", "bf16"}, {"seqlen", spec.seqlen}, {"runs", json::array()}};

  for (const int batch : spec.windows) {
    const int64_t tokens = int64_t(batch) * spec.seqlen;
    Tensor input = random_tensor(ctx, {tokens, cfg.hidden}, DType::BF16, 11);
    Tensor hidden = Tensor::empty(input.shape(), DType::BF16, ctx.device());
    Tensor positions = model::positions_tensor(ctx, batch, spec.seqlen);

    // The layer: input restored before each run (outside the timed region).
    const double layer_ms = timer.median_ms_with_setup([&] { ops::copy_(ctx, hidden, input); },
                                                       [&] { m.forward_layer(ctx, 0, w, hidden, positions, batch,
                                                                             spec.seqlen); },
                                                       2, iters);
    // GEMM-only floor: the same Linear shapes, plain cuBLAS (no bias), same activations.
    double gemm_ms = 0.0, flops = 0.0;
    json per_op = json::object();
    for (const auto& l : lin) {
      const int64_t in = l.w->dim(1), outf = l.w->dim(0);
      Tensor x = in == cfg.hidden ? input : random_tensor(ctx, {tokens, in}, DType::BF16, 12);
      const double ms = timer.median_ms([&] { (void)ops::linear(ctx, x, *l.w, Tensor(), Precision::BF16); }, 2, iters);
      gemm_ms += ms;
      flops += 2.0 * double(tokens) * double(in) * double(outf);
      per_op[l.name] = ms;
    }
    const double ratio = layer_ms / gemm_ms;
    const double tok_s = double(tokens) / (layer_ms * 1e-3);
    const double gemm_tflops = flops / (gemm_ms * 1e-3) / 1e12;
    fmt::print("{:<14} {:>6} tok  layer {:8.3f} ms  GEMM-only {:8.3f} ms  ratio {:5.2f}  {:>12.0f} tok/s  "
               "GEMM {:5.0f} TFLOP/s ({:4.1f}% of measured peak)\n",
               spec.name, tokens, layer_ms, gemm_ms, ratio, tok_s, gemm_tflops, 100.0 * gemm_tflops / peak_tflops);
    out["runs"].push_back({{"windows", batch},
                           {"tokens", tokens},
                           {"layer_ms", layer_ms},
                           {"gemm_only_ms", gemm_ms},
                           {"ratio", ratio},
                           {"layer_tokens_per_s", tok_s},
                           {"gemm_tflops", gemm_tflops},
                           {"gemm_fraction_of_peak", gemm_tflops / peak_tflops},
                           {"linear_ms", per_op},
                           {"other_ops_ms", time_other_ops(ctx, timer, m, w, input, positions, batch, spec.seqlen,
                                                           iters)}});
  }
  return out;
}

}  // namespace
}  // namespace sp::bench

int main(int argc, char** argv) {
  using namespace sp;
  // Plain argv parsing: the bench must build where only the GPU toolchain is complete.
  std::vector<std::string> models;
  std::string json_out;
  int iters = 20;
  const char* usage =
      "usage: bench_forward --model NAME:CONFIG_JSON:SEQLEN:W1[,W2...] [--model ...] [--json OUT] [--iters N]\n";
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const bool has_value = i + 1 < argc;
    if (a == "--model" && has_value) models.push_back(argv[++i]);
    else if (a == "--json" && has_value) json_out = argv[++i];
    else if (a == "--iters" && has_value) iters = std::stoi(argv[++i]);
    else {
      std::fputs(usage, a == "-h" || a == "--help" ? stdout : stderr);
      return a == "-h" || a == "--help" ? 0 : 2;
    }
  }
  if (models.empty()) {
    std::fputs(usage, stderr);
    return 2;
  }
  try {
    SP_REQUIRE(cuda_device_count() > 0, "bench_forward needs a CUDA GPU (none visible)");
    ExecContext ctx(Device::cuda(0));
    bench::GpuTimer timer(ctx);
    json all = {{"device", bench::device_name(0)}, {"ceilings", bench::ceilings(ctx, timer)}, {"models", json::array()}};
    const double peak = all["ceilings"]["bf16_gemm_tflops"].get<double>();
    for (const auto& s : models) all["models"].push_back(bench::bench_model(ctx, timer, bench::parse_spec(s), iters, peak));
    if (!json_out.empty()) {
      std::ofstream(json_out) << all.dump(2) << "\n";
      fmt::print("wrote {}\n", json_out);
    }
  } catch (const std::exception& e) {
    fmt::print(stderr, "bench_forward: {}\n", e.what());
    return 1;
  }
  return 0;
}
