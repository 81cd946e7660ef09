// Linear layer through cuBLAS: y[M, N] = x[M, K] w[N, K]^T (+ bias[N]).
//
// Row-major trick: a row-major [R, C] matrix is a column-major [C, R] one, so the column-major
// product y^T[N, M] = w[N, K] * x^T[K, M] is one cublasGemmEx with op_A = T on w (stored col-major
// [K, N]) and op_B = N on x (col-major [K, M]). The bias is written into y first and the product
// added with beta = 1, so bias and product are summed in fp32 and rounded once (as a fused epilogue).
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/cuda_ops.h"

namespace sp::cuda {
namespace {

// y[m, :] = bias (or 0 when bias is null), rows of n elements.
template <typename T>
__global__ void fill_rows_kernel(T* __restrict__ y, const T* __restrict__ bias, int64_t rows, int64_t n) {
  const int64_t total = rows * n, stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += stride)
    y[i] = bias ? bias[i % n] : from_f32<T>(0.f);
}

cudaDataType_t cuda_type(DType t) {
  switch (t) {
    case DType::F32: return CUDA_R_32F;
    case DType::BF16: return CUDA_R_16BF;
    case DType::F16: return CUDA_R_16F;
    default: fail_dtype("linear", t);
  }
}

}  // namespace

void linear(ExecContext& ctx, const Tensor& x, const Tensor& w, const Tensor& bias, Precision /*p: implied by the operand dtype*/,
            Tensor& y) {
  const int64_t m = x.dim(0), k = x.dim(1), n = w.dim(0);
  if (m == 0 || n == 0) return;
  CudaState& cs = ctx.cuda();
  const bool has_bias = bias.defined();
  if (has_bias || k == 0) {
    dispatch_float(y.dtype(), "linear", [&](auto tag) {
    using T = typename decltype(tag)::type;
      fill_rows_kernel<T><<<blocks_for(m * n, 256), 256, 0, cs.stream>>>(
          y.data<T>(), has_bias ? bias.data<T>() : nullptr, m, n);
      SP_CUDA_CHECK_LAUNCH();
    });
    if (k == 0) return;
  }
  const cudaDataType_t type = cuda_type(x.dtype());
  // F32 operands always take the pedantic fp32 path (no TF32, whatever the environment says):
  // that is Precision::Exact32. Half operands accumulate in fp32 on the tensor cores.
  const cublasComputeType_t compute = x.dtype() == DType::F32 ? CUBLAS_COMPUTE_32F_PEDANTIC : CUBLAS_COMPUTE_32F;
  const float alpha = 1.f, beta = has_bias ? 1.f : 0.f;
  if (m > INT32_MAX || n > INT32_MAX || k > INT32_MAX) fail_check("linear: dims beyond cuBLAS int range");
  SP_CUBLAS_CHECK(cublasGemmEx(cs.cublas, CUBLAS_OP_T, CUBLAS_OP_N, int(n), int(m), int(k), &alpha, w.raw(), type,
                               int(k), x.raw(), type, int(k), &beta, y.raw(), type, int(n), compute,
                               CUBLAS_GEMM_DEFAULT));
}

}  // namespace sp::cuda
