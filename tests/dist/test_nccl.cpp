// The NCCL communicator under mpirun: every collective against a reference computed here on the
// host from the known per-rank inputs, and bitwise agreement of the results across ranks (checked
// through MPI, independently of NCCL). Skips when the node has fewer GPUs than ranks.
#include <gtest/gtest.h>
#include <mpi.h>

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "core/device.h"
#include "dist/mpi_communicator.h"
#include "dist/nccl_communicator.h"

namespace sp {
namespace {

int world_rank() {
  int r = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &r);
  return r;
}
int world_size() {
  int s = 1;
  MPI_Comm_size(MPI_COMM_WORLD, &s);
  return s;
}

// True when every rank holds the same bytes (compared through MPI, not NCCL).
bool same_on_all_ranks(const void* data, size_t bytes) {
  std::vector<uint8_t> mine(static_cast<const uint8_t*>(data), static_cast<const uint8_t*>(data) + bytes);
  std::vector<uint8_t> all(bytes * size_t(world_size()));
  MPI_Allgather(mine.data(), int(bytes), MPI_BYTE, all.data(), int(bytes), MPI_BYTE, MPI_COMM_WORLD);
  for (int r = 0; r < world_size(); ++r)
    if (std::memcmp(all.data() + size_t(r) * bytes, mine.data(), bytes) != 0) return false;
  return true;
}

// Rank r's contribution to element i: values whose sum depends on the order of addition.
double contribution(int r, size_t i) { return std::ldexp(1.0, int(i % 60) - 30) * (r + 1) + 0.1 * double(i) / (r + 3); }

class Nccl : public ::testing::Test {
 protected:
  void SetUp() override {
    if (cuda_device_count() < world_size())
      GTEST_SKIP() << world_size() << " rank(s) but " << cuda_device_count() << " visible GPU(s)";
    comm_ = dist::make_nccl_communicator();
  }
  std::unique_ptr<Communicator> comm_;
};

TEST_F(Nccl, Identity) {
  EXPECT_EQ(comm_->backend(), "nccl");
  EXPECT_EQ(comm_->rank(), world_rank());
  EXPECT_EQ(comm_->size(), world_size());
}

TEST_F(Nccl, AllreduceSumIsRankOrderedAndIdenticalEverywhere) {
  for (const size_t n : {size_t(1), size_t(1000), size_t(1) << 20}) {  // the last one grows the staging buffer
    std::vector<double> d(n), want(n);
    for (size_t i = 0; i < n; ++i) {
      d[i] = contribution(comm_->rank(), i);
      double acc = contribution(0, i);
      for (int r = 1; r < comm_->size(); ++r) acc += contribution(r, i);
      want[i] = acc;
    }
    comm_->allreduce_sum(std::span<double>(d));
    EXPECT_EQ(0, std::memcmp(d.data(), want.data(), n * sizeof(double))) << "n = " << n;
    EXPECT_TRUE(same_on_all_ranks(d.data(), n * sizeof(double)));
  }
  EXPECT_EQ(comm_->allreduce_sum(1.5), 1.5 * comm_->size());
}

TEST_F(Nccl, AllreduceSumInt64IsExactBeyondDoublePrecision) {
  const int64_t big = (int64_t(1) << 55) + 1;
  std::vector<int64_t> d = {big + comm_->rank(), -int64_t(comm_->rank()), 7};
  comm_->allreduce_sum(std::span<int64_t>(d));
  const int64_t p = comm_->size();
  EXPECT_EQ(d[0], big * p + p * (p - 1) / 2);
  EXPECT_EQ(d[1], -p * (p - 1) / 2);
  EXPECT_EQ(d[2], 7 * p);
}

TEST_F(Nccl, AllreduceMax) {
  std::vector<double> d = {double(comm_->rank()), -double(comm_->rank()), 3.25};
  comm_->allreduce_max(std::span<double>(d));
  EXPECT_EQ(d[0], double(comm_->size() - 1));
  EXPECT_EQ(d[1], 0.0);
  EXPECT_EQ(d[2], 3.25);
}

TEST_F(Nccl, BroadcastFromLastRank) {
  const int root = comm_->size() - 1;
  std::vector<uint8_t> d(1234);
  for (size_t i = 0; i < d.size(); ++i) d[i] = uint8_t(comm_->rank() == root ? (i * 7 + 3) & 0xFF : 0xEE);
  comm_->broadcast(std::span<uint8_t>(d), root);
  for (size_t i = 0; i < d.size(); ++i) ASSERT_EQ(d[i], uint8_t((i * 7 + 3) & 0xFF)) << "byte " << i;
}

TEST_F(Nccl, AllgatherStringsOfDifferentLengths) {
  const std::string mine = comm_->rank() == 0 ? std::string() : std::string(size_t(comm_->rank()) * 37, char('a' + comm_->rank()));
  const auto all = comm_->allgather(mine);
  ASSERT_EQ(int(all.size()), comm_->size());
  for (int r = 0; r < comm_->size(); ++r)
    EXPECT_EQ(all[size_t(r)], r == 0 ? std::string() : std::string(size_t(r) * 37, char('a' + r)));
  comm_->barrier();
}

}  // namespace
}  // namespace sp

int main(int argc, char** argv) {
  sp::dist::MpiRuntime mpi(&argc, &argv);
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
