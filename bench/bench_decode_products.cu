// Where a decode step's products go on one GPU: a LLaMA-2-7B layer's matrix products at batch 1 and
// 16 (bf16, fp32 accumulation), each recorded many times in one CUDA graph (as the decode step is), as
// separate cuBLAS products, as one product over stacked rows (what Model::fuse_projections gives), and
// against a plain warp-per-row GEMV kernel; plus the cost of a tiny kernel node in a graph. Prints a
// table and writes JSON (docs/benchmarks.md, "Decode").
//   bench_decode_products [out.json]
#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace {

using bf16 = __nv_bfloat16;

void check(int err, const char* what) {
  if (err == 0) return;
  std::fprintf(stderr, "bench_decode_products: %s failed (%d)\n", what, err);
  std::exit(1);
}

cudaStream_t g_stream;
cublasHandle_t g_blas;

// y[0, row] = sum_k w[row, k] x[k]: one warp per row, 16-byte loads, two in flight per lane.
__global__ void gemv_kernel(const bf16* __restrict__ w, const bf16* __restrict__ x, bf16* __restrict__ y, int n,
                            int k) {
  const int lane = threadIdx.x & 31, row = blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5);
  if (row >= n) return;
  const bf16* wr = w + size_t(row) * k;
  float acc = 0.f;
  for (int base = lane * 8; base < k; base += 512) {
    uint4 wv[2];
    for (int u = 0; u < 2; ++u)
      if (base + u * 256 < k) wv[u] = __ldg(reinterpret_cast<const uint4*>(wr + base + u * 256));
    for (int u = 0; u < 2 && base + u * 256 < k; ++u) {
      const uint4 xv = __ldg(reinterpret_cast<const uint4*>(x + base + u * 256));
      const bf16* a = reinterpret_cast<const bf16*>(&wv[u]);
      const bf16* b = reinterpret_cast<const bf16*>(&xv);
      for (int j = 0; j < 8; ++j) acc += __bfloat162float(a[j]) * __bfloat162float(b[j]);
    }
  }
  for (int o = 16; o > 0; o >>= 1) acc += __shfl_xor_sync(0xffffffffu, acc, o);
  if (lane == 0) y[row] = __float2bfloat16_rn(acc);
}

__global__ void tiny_kernel(bf16* y, int n) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) y[i] = __float2bfloat16_rn(__bfloat162float(y[i]) * 1.0001f);
}

__global__ void fill_kernel(bf16* p, size_t n, unsigned seed) {
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < n; i += size_t(gridDim.x) * blockDim.x) {
    unsigned h = (unsigned(i) * 2654435761u) ^ seed;
    h ^= h >> 13;
    h *= 0x5bd1e995u;
    h ^= h >> 15;
    p[i] = __float2bfloat16_rn((float(h & 0xffff) / 65536.f - 0.5f) * 0.05f);
  }
}

// y[m, n] = x[m, k] w[n, k]^T, as ops::linear calls cuBLAS.
void linear(const bf16* w, const bf16* x, bf16* y, int m, int n, int k) {
  const float one = 1.f, zero = 0.f;
  check(cublasGemmEx(g_blas, CUBLAS_OP_T, CUBLAS_OP_N, n, m, k, &one, w, CUDA_R_16BF, k, x, CUDA_R_16BF, k, &zero, y,
                     CUDA_R_16BF, n, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
        "cublasGemmEx");
}

// Microseconds per `body`, recorded `reps` times in one graph: the best of five replays.
double graph_us(const std::function<void()>& body, int reps = 40) {
  body();
  check(cudaStreamSynchronize(g_stream), "sync");
  cudaGraph_t graph;
  cudaGraphExec_t exec;
  check(cudaStreamBeginCapture(g_stream, cudaStreamCaptureModeRelaxed), "capture");
  for (int i = 0; i < reps; ++i) body();
  check(cudaStreamEndCapture(g_stream, &graph), "end capture");
  check(cudaGraphInstantiate(&exec, graph, 0), "instantiate");
  cudaEvent_t a, b;
  cudaEventCreate(&a);
  cudaEventCreate(&b);
  check(cudaGraphLaunch(exec, g_stream), "launch");
  float best = 1e30f;
  for (int t = 0; t < 5; ++t) {
    cudaEventRecord(a, g_stream);
    check(cudaGraphLaunch(exec, g_stream), "launch");
    cudaEventRecord(b, g_stream);
    check(cudaEventSynchronize(b), "event");
    float ms = 0;
    cudaEventElapsedTime(&ms, a, b);
    best = ms < best ? ms : best;
  }
  cudaGraphExecDestroy(exec);
  cudaGraphDestroy(graph);
  return best * 1000.0 / reps;
}

}  // namespace

int main(int argc, char** argv) {
  check(cudaStreamCreate(&g_stream), "stream");
  check(cublasCreate(&g_blas), "cublas");
  check(cublasSetStream(g_blas, g_stream), "cublas stream");
  const int h = 4096, f = 11008;
  // One layer's weights, stacked as fuse_projections stacks them: q|k|v, gate|up, then down.
  const size_t wn = size_t(3 * h + 2 * f) * h + size_t(h) * f;
  bf16 *w, *x, *y;
  check(cudaMalloc(&w, wn * 2), "malloc");
  check(cudaMalloc(&x, 16 * size_t(f) * 2), "malloc");
  check(cudaMalloc(&y, 16 * 3 * size_t(f) * 2), "malloc");
  fill_kernel<<<1024, 256, 0, g_stream>>>(w, wn, 1);
  fill_kernel<<<64, 256, 0, g_stream>>>(x, 16 * size_t(f), 2);
  const bf16* qkv = w;
  const bf16* gate_up = w + size_t(3 * h) * h;
  const bf16* down = gate_up + size_t(2 * f) * h;
  auto gbs = [](double bytes, double us) { return bytes / us / 1e3; };
  struct Row {
    std::string what;
    int batch;
    double us, bytes;
  };
  std::vector<Row> rows;
  auto add = [&](const std::string& what, int m, double bytes, const std::function<void()>& body) {
    rows.push_back({what, m, graph_us(body), bytes});
  };
  const double qkv_bytes = 3.0 * h * h * 2, gu_bytes = 2.0 * f * h * 2, down_bytes = 1.0 * f * h * 2;
  for (const int m : {1, 16}) {
    add("q, k, v: three products", m, qkv_bytes, [&] {
      for (int i = 0; i < 3; ++i) linear(qkv + size_t(i) * h * h, x, y + size_t(i) * m * h, m, h, h);
    });
    add("q, k, v: one stacked product", m, qkv_bytes, [&] { linear(qkv, x, y, m, 3 * h, h); });
    add("gate, up: two products", m, gu_bytes, [&] {
      linear(gate_up, x, y, m, f, h);
      linear(gate_up + size_t(f) * h, x, y + size_t(m) * f, m, f, h);
    });
    add("gate, up: one stacked product", m, gu_bytes, [&] { linear(gate_up, x, y, m, 2 * f, h); });
    add("down", m, down_bytes, [&] { linear(down, x, y, m, h, f); });
  }
  const double layer_bytes = (4.0 * h * h + 3.0 * f * h) * 2;
  add("a layer's 7 products (o as a fourth 4096 x 4096)", 1, layer_bytes, [&] {
    for (int i = 0; i < 4; ++i) linear(qkv + size_t(i % 3) * h * h, x, y, 1, h, h);
    linear(gate_up, x, y, 1, f, h);
    linear(gate_up + size_t(f) * h, x, y, 1, f, h);
    linear(down, x, y, 1, h, f);
  });
  add("a layer's 4 products, stacked", 1, layer_bytes, [&] {
    linear(qkv, x, y, 1, 3 * h, h);
    linear(qkv, x, y, 1, h, h);
    linear(gate_up, x, y, 1, 2 * f, h);
    linear(down, x, y, 1, h, f);
  });
  add("a layer's 4 products, stacked, warp-per-row GEMV", 1, layer_bytes, [&] {
    const int per_block = 512 / 32;
    gemv_kernel<<<(3 * h + per_block - 1) / per_block, 512, 0, g_stream>>>(qkv, x, y, 3 * h, h);
    gemv_kernel<<<(h + per_block - 1) / per_block, 512, 0, g_stream>>>(qkv, x, y, h, h);
    gemv_kernel<<<(2 * f + per_block - 1) / per_block, 512, 0, g_stream>>>(gate_up, x, y, 2 * f, h);
    gemv_kernel<<<(h + per_block - 1) / per_block, 512, 0, g_stream>>>(down, x, y, h, f);
  });
  add("one tiny kernel (4096 elements)", 1, 0, [&] { tiny_kernel<<<16, 256, 0, g_stream>>>(y, 4096); });

  std::printf("| products (LLaMA-2-7B layer, bf16) | batch | us | GB/s |\n|---|---:|---:|---:|\n");
  for (const Row& r : rows)
    std::printf("| %s | %d | %.1f | %s |\n", r.what.c_str(), r.batch, r.us,
                r.bytes > 0 ? std::to_string(int(gbs(r.bytes, r.us))).c_str() : "-");
  if (argc > 1) {
    nlohmann::json j;
    for (const Row& r : rows) j["rows"].push_back({{"what", r.what}, {"batch", r.batch}, {"us", r.us}, {"bytes", r.bytes}});
    std::ofstream(argv[1]) << j.dump(1) << "\n";
  }
  return 0;
}
