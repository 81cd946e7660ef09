// CPU bodies of the elementwise and output-side ops (F32; convert handles F32 / F64 / BF16 / F16).
#include <algorithm>
#include <cmath>
#include <limits>
#include <thread>
#include <vector>

#include "kernels/cpu/cpu_ops.h"
#include "kernels/synthetic_normal.h"

namespace sp::cpu {
namespace {

// f(c) for every chunk c in [0, n_chunks), chunks dealt round-robin to threads() threads. Each
// chunk is computed whole by one thread, so the values do not depend on the thread count.
template <class F>
void parallel_chunks(int64_t n_chunks, F&& f) {
  const int n_threads = int(std::min<int64_t>(n_chunks, threads()));
  auto worker = [&](int w) {
    for (int64_t c = w; c < n_chunks; c += n_threads) f(c);
  };
  std::vector<std::thread> pool;
  for (int w = 1; w < n_threads; ++w) pool.emplace_back(worker, w);
  if (n_threads > 0) worker(0);
  for (auto& th : pool) th.join();
}

// Rows [0, m) in chunks of kRowChunk, in parallel: for the vocabulary-wide rows of the output ops.
constexpr int64_t kRowChunk = 8;
template <class F>
void parallel_rows(int64_t m, F&& row) {
  parallel_chunks((m + kRowChunk - 1) / kRowChunk, [&](int64_t c) {
    for (int64_t r = c * kRowChunk, end = std::min(m, (c + 1) * kRowChunk); r < end; ++r) row(r);
  });
}

}  // namespace

namespace {

// o[i] = act(g[i]) * u[i] for n elements.
void gated_span(const float* g, const float* u, float* o, int64_t n, ops::GateAct act) {
  switch (act) {
    case ops::GateAct::kSilu:
      for (int64_t i = 0; i < n; ++i) o[i] = g[i] / (1.f + std::exp(-g[i])) * u[i];
      break;
    case ops::GateAct::kGeluTanh: {
      // torch's GELU(approximate='tanh') in fp32: beta = sqrt(2/pi), kappa = 0.044715.
      constexpr float kBeta = 0.7978845608028654f, kKappa = 0.044715f;
      for (int64_t i = 0; i < n; ++i) {
        const float x = g[i], inner = kBeta * (x + kKappa * (x * x * x));
        o[i] = 0.5f * x * (1.f + std::tanh(inner)) * u[i];
      }
      break;
    }
  }
}

}  // namespace

void gated_act(const Tensor& gate, const Tensor& up, ops::GateAct act, Tensor& out) {
  gated_span(gate.data<float>(), up.data<float>(), out.data<float>(), gate.numel(), act);
}

void gated_act(const Tensor& gate_up, ops::GateAct act, Tensor& out) {
  const int64_t f = out.dim(1);
  for (int64_t r = 0; r < out.dim(0); ++r) {
    const float* row = gate_up.data<float>() + r * 2 * f;
    gated_span(row, row + f, out.data<float>() + r * f, f, act);
  }
}

void scale(Tensor& x, float s) {
  float* p = x.data<float>();
  for (int64_t i = 0; i < x.numel(); ++i) p[i] *= s;
}

void softcap(Tensor& x, float cap) {
  float* p = x.data<float>();
  for (int64_t i = 0; i < x.numel(); ++i) p[i] = std::tanh(p[i] / cap) * cap;  // torch's order: / cap, tanh, * cap
}

void relu(Tensor& x) {
  float* p = x.data<float>();
  for (int64_t i = 0; i < x.numel(); ++i) p[i] = p[i] > 0.f ? p[i] : 0.f;
}

void add(Tensor& x, const Tensor& y) {
  float* a = x.data<float>();
  const float* b = y.data<float>();
  for (int64_t i = 0; i < x.numel(); ++i) a[i] += b[i];
}

void token_nll(const Tensor& logits, const Tensor& targets, Tensor& out) {
  const int64_t m = logits.dim(0), v = logits.dim(1);
  const int32_t* t = targets.data<int32_t>();
  parallel_rows(m, [&](int64_t r) {
    const float* z = logits.data<float>() + r * v;
    float mx = -std::numeric_limits<float>::infinity();
    for (int64_t j = 0; j < v; ++j) mx = std::max(mx, z[j]);
    double sum = 0.0;  // double: 50k terms summed without fp32 drift
    for (int64_t j = 0; j < v; ++j) sum += std::exp(double(z[j] - mx));
    out.data<float>()[r] = float(std::log(sum) + double(mx) - double(z[t[r]]));
  });
}

void kl_div_rows(const Tensor& p, const Tensor& q, Tensor& out) {
  const int64_t m = p.dim(0), v = p.dim(1);
  // log-sum-exp in double (50k terms); KL = sum_i p_i (a_i - b_i) - lse(a) + lse(b).
  auto lse = [v](const float* z) {
    float mx = -std::numeric_limits<float>::infinity();
    for (int64_t j = 0; j < v; ++j) mx = std::max(mx, z[j]);
    double sum = 0.0;
    for (int64_t j = 0; j < v; ++j) sum += std::exp(double(z[j] - mx));
    return std::log(sum) + double(mx);
  };
  parallel_rows(m, [&](int64_t r) {
    const float* a = p.data<float>() + r * v;
    const float* b = q.data<float>() + r * v;
    const double la = lse(a), lb = lse(b);
    double acc = 0.0;
    for (int64_t j = 0; j < v; ++j) acc += std::exp(double(a[j]) - la) * (double(a[j]) - double(b[j]));
    out.data<float>()[r] = float(acc - la + lb);
  });
}

void argmax_rows(const Tensor& logits, Tensor& out) {
  const int64_t m = logits.dim(0), v = logits.dim(1);
  for (int64_t r = 0; r < m; ++r) {
    const float* z = logits.data<float>() + r * v;
    int64_t best = 0;
    for (int64_t j = 1; j < v; ++j)
      if (z[j] > z[best]) best = j;  // strict: the lowest index wins ties
    out.data<int32_t>()[r] = int32_t(best);
  }
}

namespace {
// Every element passes through fp32 except F32 -> F64 (exact) and F64 -> F32 (one rounding), so an
// F64 -> BF16 / F16 conversion rounds twice (through float), bit for bit as the CUDA body does.
double load(const Tensor& x, int64_t i) {
  switch (x.dtype()) {
    case DType::BF16:
      return bf16_to_f32(x.data<uint16_t>()[i]);
    case DType::F16:
      return f16_to_f32(x.data<uint16_t>()[i]);
    case DType::F64:
      return x.data<double>()[i];
    default:
      return x.data<float>()[i];
  }
}
}  // namespace

void convert(const Tensor& x, Tensor& out) {
  const int64_t n = x.numel();
  switch (out.dtype()) {
    case DType::BF16:
      for (int64_t i = 0; i < n; ++i) out.data<uint16_t>()[i] = f32_to_bf16(float(load(x, i)));
      break;
    case DType::F16:
      for (int64_t i = 0; i < n; ++i) out.data<uint16_t>()[i] = f32_to_f16(float(load(x, i)));
      break;
    case DType::F64:
      for (int64_t i = 0; i < n; ++i) out.data<double>()[i] = load(x, i);
      break;
    default:
      for (int64_t i = 0; i < n; ++i) out.data<float>()[i] = float(load(x, i));
      break;
  }
}

// Threads over fixed chunks of even size: values depend on (key, index) alone.
void synthetic_normal(Tensor& out, uint64_t key, float stddev) {
  float* p = out.data<float>();
  const int64_t n = out.numel();
  constexpr int64_t kChunk = int64_t(1) << 22;
  parallel_chunks((n + kChunk - 1) / kChunk, [&](int64_t c) {
    for (int64_t i = c * kChunk, end = std::min(n, (c + 1) * kChunk); i < end; i += 2) {
      float a, b;
      synthetic::normal_pair(key, i, stddev, a, b);
      p[i] = a;
      if (i + 1 < end) p[i + 1] = b;
    }
  });
}

}  // namespace sp::cpu
