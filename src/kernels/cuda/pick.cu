// The OBS greedy's choice of each step on the device: no copy of the saliencies to the host and
// back, so the host can queue the next steps while the device runs this one.
#include <algorithm>
#include <cub/device/device_radix_sort.cuh>

#include "kernels/cuda/common.cuh"
#include "kernels/cuda/cuda_ops.h"

namespace sp::cuda {

namespace {

constexpr int kThreads = 256;

// Sort keys: a live group's cost (-0 as +0, so that equal costs tie and the stable sort keeps them in
// group order), a dead group's a NaN, which the radix order puts after every number and +inf.
__global__ void pick_keys_kernel(const double* __restrict__ cost, const int32_t* __restrict__ at,
                                 const int32_t* __restrict__ live, double* __restrict__ keys, int32_t* __restrict__ ids,
                                 int64_t groups) {
  const int64_t g = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (g >= groups) return;
  const double c = live[g] != 0 ? cost[at[g]] : __longlong_as_double(0x7ff8000000000000ll);
  keys[g] = c == 0.0 ? 0.0 : c;
  ids[g] = int32_t(g);
}

__global__ void pick_take_kernel(const double* __restrict__ keys, const int32_t* __restrict__ ids,
                                 int32_t* __restrict__ live, int32_t* __restrict__ picked,
                                 double* __restrict__ picked_cost, int64_t take) {
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= take) return;
  picked[i] = ids[i];
  picked_cost[i] = keys[i];
  live[ids[i]] = 0;
}

// One block: the picked groups' column positions, then each one's rank among them (they are
// distinct), written at its rank.
__global__ void group_columns_kernel(const int32_t* __restrict__ picked, const int32_t* __restrict__ members,
                                     const int32_t* __restrict__ pos, int64_t b, int64_t k, int32_t* __restrict__ out) {
  for (int64_t i = threadIdx.x; i < k; i += blockDim.x) {
    const int32_t v = pos[members[int64_t(picked[i / b]) * b + i % b]];
    int64_t rank = 0;
    for (int64_t j = 0; j < k; ++j) rank += pos[members[int64_t(picked[j / b]) * b + j % b]] < v;
    out[rank] = v;
  }
}

}  // namespace

void pick_cheapest(ExecContext& ctx, const Tensor& cost, const Tensor& at, Tensor& live, Tensor& picked,
                   Tensor& picked_cost) {
  const int64_t groups = live.numel(), take = picked.numel();
  const cudaStream_t stream = stream_of(ctx);
  SP_CHECK(groups < (int64_t(1) << 31), "pick_cheapest: {} groups beyond CUB's int range", groups);
  Tensor keys = Tensor::empty({2, groups}, DType::F64, live.device());  // in, sorted
  Tensor ids = Tensor::empty({2, groups}, DType::I32, live.device());
  double* k = keys.data<double>();
  int32_t* v = ids.data<int32_t>();
  pick_keys_kernel<<<blocks_for(groups, kThreads), kThreads, 0, stream>>>(cost.data<double>(), at.data<int32_t>(),
                                                                          live.data<int32_t>(), k, v, groups);
  SP_CUDA_CHECK_LAUNCH();
  // A stable radix sort of all groups: ties keep group order.
  size_t bytes = 0;
  SP_CUDA_CHECK(cub::DeviceRadixSort::SortPairs(nullptr, bytes, k, k + groups, v, v + groups, int(groups), 0,
                                                int(sizeof(double) * 8), stream));
  Tensor temp = Tensor::empty({int64_t(std::max<size_t>(bytes, 1))}, DType::U8, live.device());
  SP_CUDA_CHECK(cub::DeviceRadixSort::SortPairs(temp.raw(), bytes, k, k + groups, v, v + groups, int(groups), 0,
                                                int(sizeof(double) * 8), stream));
  pick_take_kernel<<<blocks_for(take, kThreads), kThreads, 0, stream>>>(
      k + groups, v + groups, live.data<int32_t>(), picked.data<int32_t>(), picked_cost.data<double>(), take);
  SP_CUDA_CHECK_LAUNCH();
}

void group_columns(ExecContext& ctx, const Tensor& picked, const Tensor& members, const Tensor& pos, int64_t b,
                   Tensor& out) {
  group_columns_kernel<<<1, 1024, 0, stream_of(ctx)>>>(picked.data<int32_t>(), members.data<int32_t>(),
                                                       pos.data<int32_t>(), b, out.numel(), out.data<int32_t>());
  SP_CUDA_CHECK_LAUNCH();
}

}  // namespace sp::cuda
