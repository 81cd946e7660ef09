// Seeded calibration windows. Golden values come from an independent Python implementation of
// std::mt19937_64 (checked against the C++ standard's 10000th-output value) and of the documented
// draw: uniform_below(n) rejects raw draws below 2^64 mod n, randint(lo, hi) = lo + below(hi-lo+1).
#include <gtest/gtest.h>

#include <fmt/format.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>

#include <unistd.h>

#include "core/error.h"
#include "test_sampling_fakes.h"
#include "test_util.h"
#include "tokenize/sampling.h"

namespace sp::data {
namespace {

namespace fs = std::filesystem;

std::string temp_file(const std::string& name, const std::string& bytes) {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  const std::string p =
      (fs::temp_directory_path() / fmt::format("sp_sampling_{}_{}_{}", info->name(), ::getpid(), name)).string();
  std::ofstream(p, std::ios::binary).write(bytes.data(), std::streamsize(bytes.size()));
  return p;
}

std::vector<int64_t> all_indices(const CalibrationPlan& plan) { return rank_share(int64_t(plan.windows.size()), 0, 1); }

TEST(SamplingDraw, EngineIsTheStandardMt19937_64) {
  std::mt19937_64 rng;  // default seed 5489: [rand.predef] fixes the 10000th output
  rng.discard(9999);
  EXPECT_EQ(rng(), 9981545732273789042ULL);
}

TEST(SamplingDraw, RejectionDrawMatchesPythonGolden) {
  std::mt19937_64 rng(7);
  // n = 2^63 + 1: almost half the raw draws are rejected (the third raw draw is).
  const std::vector<uint64_t> want = {4692580601820535206ULL, 8288144301770457441ULL, 7229522069929557237ULL,
                                      6133966320490684800ULL, 7391803606906455109ULL, 4019650396926626531ULL};
  for (uint64_t w : want) EXPECT_EQ(uniform_below(rng, (1ULL << 63) + 1), w);
}

TEST(SamplingDraw, UnbiasedOverASmallRange) {
  std::mt19937_64 rng(2024);
  constexpr int kBins = 7, kDraws = 70000;
  std::vector<int> count(kBins, 0);
  for (int i = 0; i < kDraws; ++i) {
    const int64_t v = uniform_int(rng, 10, 10 + kBins - 1);
    ASSERT_GE(v, 10);
    ASSERT_LE(v, 10 + kBins - 1);
    ++count[size_t(v - 10)];
  }
  double chi2 = 0;
  for (int c : count) chi2 += (c - kDraws / double(kBins)) * (c - kDraws / double(kBins)) / (kDraws / double(kBins));
  EXPECT_LT(chi2, 22.46) << "chi-square with 6 degrees of freedom above its 0.999 quantile";
}

// n = 3 * 2^62: plain `rng() % n` would give values below 2^62 half the time instead of a third.
TEST(SamplingDraw, NoModuloBiasOnAHugeRange) {
  std::mt19937_64 rng(99);
  const uint64_t n = 3ULL << 62;
  int low = 0;
  constexpr int kDraws = 30000;
  for (int i = 0; i < kDraws; ++i) low += uniform_below(rng, n) < (1ULL << 62);
  EXPECT_NEAR(low / double(kDraws), 1.0 / 3.0, 0.012);
}

TEST(SamplingPlan, StreamWindowsMatchPythonGolden) {
  std::vector<uint16_t> v(10000);
  for (size_t i = 0; i < v.size(); ++i) v[i] = uint16_t((i * 7) % 65536);
  const std::string p = temp_file("stream.bin", std::string(reinterpret_cast<const char*>(v.data()), v.size() * 2));
  Dataset data({p}, nullptr, -1);
  const CalibrationPlan plan = plan_windows(data, 8, 100, 1234);
  const std::vector<int64_t> want = {1772, 118, 5450, 434, 6775, 417, 3137, 6917};
  ASSERT_EQ(plan.windows.size(), want.size());
  for (size_t s = 0; s < want.size(); ++s) EXPECT_EQ(plan.windows[s], (WindowRef{-1, want[s]})) << s;
  const auto windows = materialize(data, plan, all_indices(plan));
  for (size_t s = 0; s < want.size(); ++s)
    for (int64_t k = 0; k < 100; ++k) ASSERT_EQ(windows[s][size_t(k)], int32_t(((want[s] + k) * 7) % 65536));
  fs::remove(p);
}

// SparseGPT's C4 loader over the real C4 slice, ids = UTF-8 bytes (no BOS): documents and offsets
// as the Python implementation of the same draws (document lengths from json.loads + encode).
TEST(SamplingPlan, C4DocumentWindowsMatchPythonGolden) {
  SP_REQUIRE_SHARED(c4, "data/c4/c4-calib.jsonl");
  test::ByteTokenizer tok;
  Dataset data({c4}, &tok, -1);
  const CalibrationPlan plan = plan_windows(data, 6, 2048, 42);
  const std::vector<WindowRef> want = {{824, 96}, {536, 7462}, {210, 10}, {460, 13}, {140, 327}, {788, 1076}};
  EXPECT_EQ(plan.windows, want);
  const JsonlDocs docs = JsonlDocs::open(c4, "text");
  const auto windows = materialize(data, plan, all_indices(plan));
  for (size_t s = 0; s < want.size(); ++s)
    EXPECT_EQ(tok.decode(windows[s]), docs.text(want[s].source).substr(size_t(want[s].offset), 2048)) << s;
}

TEST(SamplingPlan, WindowsAreInBoundsDeterministicAndSeedDependent) {
  std::string text;
  for (int i = 0; i < 400; ++i) text += fmt::format("line {} of the calibration text\n", i);
  const std::string p = temp_file("calib.txt", text);
  test::ByteTokenizer tok;
  Dataset data({p}, &tok, 256);
  const std::vector<int32_t> stream = load_eval_ids({p}, &tok, 256);  // BOS + bytes
  ASSERT_EQ(data.stream_length(), int64_t(stream.size()));
  const int64_t seqlen = 128;
  const CalibrationPlan a = plan_windows(data, 32, seqlen, 5);
  const auto wa = materialize(data, a, all_indices(a));
  for (size_t s = 0; s < wa.size(); ++s) {
    const int64_t off = a.windows[s].offset;
    ASSERT_GE(off, 0);
    ASSERT_LE(off + seqlen, int64_t(stream.size()) - 1);  // randint(0, len - seqlen - 1)
    EXPECT_EQ(wa[s], std::vector<int32_t>(stream.begin() + off, stream.begin() + off + seqlen));
  }
  EXPECT_EQ(sample_calibration({p}, &tok, 32, seqlen, 5, 256), wa);
  const CalibrationPlan b = plan_windows(data, 32, seqlen, 6);
  EXPECT_NE(a.windows, b.windows);
  fs::remove(p);
}

TEST(SamplingPlan, MaterialisingASubsetTokenizesOnlyItsDocuments) {
  SP_REQUIRE_SHARED(c4, "data/c4/c4-calib.jsonl");
  test::ByteTokenizer tok;
  Dataset data({c4}, &tok, -1);
  const CalibrationPlan plan = plan_windows(data, 16, 1024, 3);
  const std::vector<int64_t> subset = {1, 5, 9};
  std::set<int64_t> docs;
  for (int64_t i : subset) docs.insert(plan.windows[size_t(i)].source);
  const int64_t before = tok.calls();
  const auto windows = materialize(data, plan, subset);
  EXPECT_EQ(tok.calls() - before, int64_t(docs.size()));
  ASSERT_EQ(windows.size(), subset.size());
  for (const auto& w : windows) EXPECT_EQ(w.size(), 1024u);
}

TEST(SamplingPlan, ImpossibleRequestsNameTheFileAndSeqlen) {
  const std::string p = temp_file("short.txt", "only a few bytes");
  test::ByteTokenizer tok;
  Dataset text({p}, &tok, 256);
  EXPECT_NE(sp::test::input_error([&] { plan_windows(text, 4, 64, 0); }).find(p + ": 17 tokens are too few for windows of seqlen = 64"),
            std::string::npos);
  EXPECT_NE(sp::test::input_error([&] { plan_windows(text, 0, 4, 0); }).find("nsamples"), std::string::npos);
  const std::string j = temp_file("short.jsonl", "{\"text\": \"abc\"}\n{\"text\": \"defgh\"}\n");
  Dataset docs({j}, &tok, 256);
  EXPECT_NE(sp::test::input_error([&] { plan_windows(docs, 2, 8, 0); })
                .find(j + ": no document is longer than seqlen = 8 tokens (longest seen: 6 tokens of 2 documents)"),
            std::string::npos);
  fs::remove(p);
  fs::remove(j);
}

TEST(SamplingPlan, RankSharesPartitionTheWindows) {
  for (int size : {1, 2, 3, 4}) {
    std::vector<int> seen(10, 0);
    for (int r = 0; r < size; ++r)
      for (int64_t i : rank_share(10, r, size)) {
        EXPECT_EQ(i % size, r);
        ++seen[size_t(i)];
      }
    for (int c : seen) EXPECT_EQ(c, 1);
  }
}

}  // namespace
}  // namespace sp::data
