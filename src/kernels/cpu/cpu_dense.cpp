// CPU bodies of the dense ops (F32). The GEMM is Eigen's, on row-major maps of the operands.
#include <Eigen/Core>
#include <cstring>

#include "kernels/cpu/cpu_ops.h"

namespace sp::cpu {

using RowMajor = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

void embedding(const Tensor& table, const Tensor& ids, Tensor& out) {
  const int64_t h = table.dim(1);
  const float* tab = table.data<float>();
  const int32_t* id = ids.data<int32_t>();
  float* o = out.data<float>();
  for (int64_t t = 0; t < ids.numel(); ++t) std::memcpy(o + t * h, tab + int64_t(id[t]) * h, size_t(h) * 4);
}

void linear(const Tensor& x, const Tensor& w, const Tensor& bias, Tensor& y) {
  const int64_t m = x.dim(0), k = x.dim(1), n = w.dim(0);
  Eigen::Map<const RowMajor> xm(x.data<float>(), m, k);
  Eigen::Map<const RowMajor> wm(w.data<float>(), n, k);
  Eigen::Map<RowMajor> ym(y.data<float>(), m, n);
  ym.noalias() = xm * wm.transpose();
  if (bias.defined()) {
    Eigen::Map<const Eigen::RowVectorXf> b(bias.data<float>(), n);
    ym.rowwise() += b;
  }
}

}  // namespace sp::cpu
