// The calibration selection does not depend on the number of ranks: every rank plans the windows
// of a seed, materialises only its share (windows i with i % size == rank), and the gathered
// fingerprints must equal the full selection each rank computes on its own. Real C4 slice, byte
// tokenizer (runs without the real tokenizer). Run with mpirun -np 1, 2 and 4.
#include <gtest/gtest.h>

#include <fmt/format.h>

#include <map>

#include "dist/mpi_communicator.h"
#include "test_sampling_fakes.h"
#include "test_util.h"
#include "tokenize/sampling.h"

namespace sp::data {
namespace {

Communicator* g_comm = nullptr;

// "index:hash;" for each window of `indices`.
std::string fingerprints(const std::vector<int64_t>& indices, const std::vector<std::vector<int32_t>>& windows) {
  std::string out;
  for (size_t k = 0; k < indices.size(); ++k) out += fmt::format("{}:{:016x};", indices[k], test::fnv1a_ids(windows[k]));
  return out;
}

std::map<int64_t, std::string> parse(const std::string& s) {
  std::map<int64_t, std::string> m;
  for (size_t pos = 0; pos < s.size();) {
    const size_t colon = s.find(':', pos), semi = s.find(';', pos);
    m[std::stoll(s.substr(pos, colon - pos))] = s.substr(colon + 1, semi - colon - 1);
    pos = semi + 1;
  }
  return m;
}

void check_rank_independent(const DataSpec& spec, int64_t nsamples, int64_t seqlen, uint64_t seed) {
  Communicator& comm = *g_comm;
  test::ByteTokenizer tok;
  Dataset data(spec, &tok, -1);
  const CalibrationPlan plan = plan_windows(data, nsamples, seqlen, seed);
  const std::vector<int64_t> mine = rank_share(nsamples, comm.rank(), comm.size());
  const auto gathered = comm.allgather(fingerprints(mine, materialize(data, plan, mine)));

  std::map<int64_t, std::string> union_of_shares;
  for (const std::string& part : gathered)
    for (const auto& [i, h] : parse(part)) EXPECT_TRUE(union_of_shares.emplace(i, h).second) << "window " << i << " twice";

  // The single-process selection, computed locally from scratch.
  const auto all = sample_calibration(spec, &tok, nsamples, seqlen, seed, -1);
  const std::vector<int64_t> every = rank_share(nsamples, 0, 1);
  const std::map<int64_t, std::string> expected = parse(fingerprints(every, all));
  EXPECT_EQ(union_of_shares, expected) << "rank " << comm.rank() << " of " << comm.size();

  // And every rank reached the same full selection.
  const auto views = comm.allgather(fingerprints(every, all));
  for (const std::string& v : views) EXPECT_EQ(v, views[0]);
}

TEST(SamplingMpi, C4WindowsAreTheSameForAnyRankCount) {
  SP_REQUIRE_SHARED(c4, "data/c4/c4-calib.jsonl");
  check_rank_independent({c4}, 16, 512, 0);
  check_rank_independent({c4}, 13, 1024, 12345);
}

TEST(SamplingMpi, WikitextStreamWindowsAreTheSameForAnyRankCount) {
  SP_REQUIRE_SHARED(raw, "data/wikitext-2-raw/wiki.test.raw");
  check_rank_independent({raw}, 16, 256, 7);
}

}  // namespace
}  // namespace sp::data

// Every rank runs every test; a skip (missing shared data) is the same on every rank, so the
// collectives inside the tests stay matched.
int main(int argc, char** argv) {
  sp::dist::MpiRuntime mpi(&argc, &argv);
  ::testing::InitGoogleTest(&argc, argv);
  auto comm = sp::dist::make_mpi_communicator();
  sp::data::g_comm = comm.get();
  if (comm->rank() != 0) {
    auto& listeners = ::testing::UnitTest::GetInstance()->listeners();
    delete listeners.Release(listeners.default_result_printer());
  }
  int failed = RUN_ALL_TESTS();
  std::vector<int64_t> f{failed != 0 ? 1 : 0};
  comm->allreduce_sum(std::span<int64_t>(f));
  return f[0] == 0 ? 0 : 1;
}
