// The MPI communicator under mpirun -np 2 / 4: sums against exact and rank-order references,
// bitwise-identical results on every rank, broadcast from any root, allgather of uneven strings.
// Every rank runs every test; the exit code is non-zero if any rank failed.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <memory>

#include "core/device.h"
#include "dist/gpu_binding.h"
#include "dist/mpi_communicator.h"

namespace sp::dist {
namespace {

Communicator* g_comm = nullptr;

// Inputs chosen so that the floating-point sum depends on the order of additions.
double tricky(int rank, size_t i) {
  const double big = (rank % 2 == 0 ? 1.0 : -1.0) * 1e16;
  return big + 0.1 * double(rank + 1) + 1e-3 * double(i);
}

TEST(MpiCommunicator, RankAndSize) {
  EXPECT_GE(g_comm->size(), 1);
  EXPECT_GE(g_comm->rank(), 0);
  EXPECT_LT(g_comm->rank(), g_comm->size());
  EXPECT_EQ(g_comm->backend(), "mpi");
  EXPECT_EQ(g_comm->is_root(), g_comm->rank() == 0);
}

TEST(MpiCommunicator, AllreduceSumIsExact) {
  const int P = g_comm->size(), r = g_comm->rank();
  std::vector<double> v(100);
  std::vector<int64_t> n(100);
  for (size_t i = 0; i < v.size(); ++i) {
    v[i] = double(r + 1) * double(i) + 0.5;  // small integers and halves: exact in double
    n[i] = int64_t(r + 1) * (int64_t(1) << 40) + int64_t(i);
  }
  g_comm->allreduce_sum(std::span<double>(v));
  g_comm->allreduce_sum(std::span<int64_t>(n));
  const int64_t tri = int64_t(P) * (P + 1) / 2;
  for (size_t i = 0; i < v.size(); ++i) {
    EXPECT_EQ(v[i], double(tri) * double(i) + 0.5 * P) << i;
    EXPECT_EQ(n[i], tri * (int64_t(1) << 40) + int64_t(P) * int64_t(i)) << i;
  }
  EXPECT_EQ(g_comm->allreduce_sum(double(r)), double(P * (P - 1) / 2));
}

// The sum is the rank-order fold v_0 + v_1 + ... (computed here from the known inputs), and the
// same bits on every rank.
TEST(MpiCommunicator, AllreduceSumIsRankOrderedAndBitwiseIdentical) {
  const int P = g_comm->size(), r = g_comm->rank();
  std::vector<double> v(64);
  for (size_t i = 0; i < v.size(); ++i) v[i] = tricky(r, i);
  g_comm->allreduce_sum(std::span<double>(v));
  for (size_t i = 0; i < v.size(); ++i) {
    double ref = tricky(0, i);
    for (int q = 1; q < P; ++q) ref += tricky(q, i);
    EXPECT_EQ(std::memcmp(&v[i], &ref, sizeof(double)), 0) << "element " << i << ": " << v[i] << " vs " << ref;
  }
  const std::string mine(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(double));
  const auto all = g_comm->allgather(mine);
  for (int q = 0; q < P && q < int(all.size()); ++q)
    EXPECT_EQ(all[size_t(q)], all[0]) << "rank " << q << " differs from rank 0";
}

TEST(MpiCommunicator, AllreduceMax) {
  const int P = g_comm->size(), r = g_comm->rank();
  std::vector<double> v = {double(r), -double(r), r == P - 1 ? INFINITY : 0.0};
  g_comm->allreduce_max(std::span<double>(v));
  EXPECT_EQ(v[0], double(P - 1));
  EXPECT_EQ(v[1], 0.0);
  EXPECT_TRUE(std::isinf(v[2]));
}

TEST(MpiCommunicator, BroadcastFromEveryRoot) {
  const int P = g_comm->size(), r = g_comm->rank();
  for (int root = 0; root < P; ++root) {
    std::vector<uint8_t> buf(1000);
    for (size_t i = 0; i < buf.size(); ++i) buf[i] = uint8_t(r == root ? (i * 7 + size_t(root)) & 0xff : 0xee);
    g_comm->broadcast(std::span<uint8_t>(buf), root);
    size_t wrong = 0;  // counted, not asserted: an early return would leave peers in the next collective
    for (size_t i = 0; i < buf.size(); ++i) wrong += buf[i] != uint8_t((i * 7 + size_t(root)) & 0xff);
    EXPECT_EQ(wrong, 0u) << "root " << root;
  }
}

TEST(MpiCommunicator, AllgatherUnevenStringsInRankOrder) {
  const int P = g_comm->size(), r = g_comm->rank();
  const std::string mine = r == 0 ? std::string() : std::string(size_t(r) * 3, char('a' + r));
  const auto all = g_comm->allgather(mine);
  EXPECT_EQ(int(all.size()), P);
  for (int q = 0; q < P && q < int(all.size()); ++q)
    EXPECT_EQ(all[size_t(q)], q == 0 ? std::string() : std::string(size_t(q) * 3, char('a' + q))) << q;
  g_comm->barrier();
}

// I64 tensors: host ones, and device ones (staged through page-locked host memory; what a GPU run
// whose ranks share a GPU sums its statistics with) on the GPU the binding rule picks, every rank
// on the same GPU when the machine has one. Exact sums against the closed form.
void expect_tensor_sum(Device dev) {
  const int64_t n = 1000, p = g_comm->size(), r = g_comm->rank();
  Tensor host = Tensor::empty({n}, DType::I64);
  for (int64_t i = 0; i < n; ++i) host.data<int64_t>()[i] = (r + 1) * (int64_t(1) << 40) + i * (r - 1);
  Tensor t = dev.is_cpu() ? host : host.to(dev);
  g_comm->allreduce_sum(t);
  g_comm->allreduce_sum(t);  // twice: the staging buffer is reused
  const Tensor back = t.is_cpu() ? t : t.to(Device::cpu());
  const int64_t ranks = p * (p + 1) / 2, minus = p * (p - 1) / 2 - p;  // sum of (r + 1), sum of (r - 1)
  for (int64_t i = 0; i < n; ++i)
    ASSERT_EQ(back.data<int64_t>()[i], p * (ranks * (int64_t(1) << 40) + i * minus)) << dev.str() << " element " << i;
}

TEST(MpiCommunicator, AllreduceSumOfHostTensors) { expect_tensor_sum(Device::cpu()); }

TEST(MpiCommunicator, AllreduceSumOfDeviceTensors) {
  const int gpu = gpu_for_rank(0, cuda_device_count());
  if (gpu < 0) GTEST_SKIP() << "no GPU visible";
  expect_tensor_sum(Device::cuda(gpu));
}

}  // namespace
}  // namespace sp::dist

int main(int argc, char** argv) {
  sp::dist::MpiRuntime mpi(&argc, &argv);
  auto comm = sp::dist::make_mpi_communicator();
  sp::dist::g_comm = comm.get();
  ::testing::InitGoogleTest(&argc, argv);
  if (comm->rank() != 0) {  // one report; failures on other ranks still count below
    auto& listeners = ::testing::UnitTest::GetInstance()->listeners();
    delete listeners.Release(listeners.default_result_printer());
  }
  const int local = RUN_ALL_TESTS();
  if (local != 0) std::fprintf(stderr, "rank %d: tests FAILED\n", comm->rank());
  const double failed = comm->allreduce_sum(double(local != 0));
  return failed > 0 ? 1 : 0;
}
