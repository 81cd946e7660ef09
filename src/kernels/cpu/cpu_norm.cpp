// CPU bodies of RMSNorm and LayerNorm (F32). Row statistics are accumulated in double and rounded
// once, so the result is the correctly rounded fp32 statistic that the references approximate.
#include <cmath>

#include "kernels/cpu/cpu_ops.h"

namespace sp::cpu {

void rms_norm(const Tensor& x, const Tensor& w, float eps, float w_offset, Tensor& y) {
  const int64_t m = x.dim(0), h = x.dim(1);
  const float* wp = w.data<float>();
  for (int64_t r = 0; r < m; ++r) {
    const float* xr = x.data<float>() + r * h;
    float* yr = y.data<float>() + r * h;
    double ss = 0.0;
    for (int64_t i = 0; i < h; ++i) ss += double(xr[i]) * xr[i];
    // As transformers: x * rsqrt(mean(x^2) + eps), then times the weight (Gemma: 1 + w), all in fp32.
    const float inv = 1.f / std::sqrt(float(ss / double(h)) + eps);
    if (w_offset == 0.f)
      for (int64_t i = 0; i < h; ++i) yr[i] = wp[i] * (xr[i] * inv);
    else
      for (int64_t i = 0; i < h; ++i) yr[i] = (xr[i] * inv) * (w_offset + wp[i]);
  }
}

void layer_norm(const Tensor& x, const Tensor& w, const Tensor& b, float eps, Tensor& y) {
  const int64_t m = x.dim(0), h = x.dim(1);
  const float* wp = w.data<float>();
  const float* bp = b.data<float>();
  for (int64_t r = 0; r < m; ++r) {
    const float* xr = x.data<float>() + r * h;
    float* yr = y.data<float>() + r * h;
    double s = 0.0;
    for (int64_t i = 0; i < h; ++i) s += xr[i];
    const double mean = s / double(h);
    double v = 0.0;
    for (int64_t i = 0; i < h; ++i) v += (xr[i] - mean) * (xr[i] - mean);
    const float inv = float(1.0 / std::sqrt(v / double(h) + double(eps)));
    const float mf = float(mean);
    for (int64_t i = 0; i < h; ++i) yr[i] = (xr[i] - mf) * inv * wp[i] + bp[i];
  }
}

}  // namespace sp::cpu
