#include "tokenize/sampling.h"

#include <algorithm>
#include <limits>
#include <map>
#include <unordered_set>

#include "core/error.h"

namespace sp::data {

uint64_t uniform_below(std::mt19937_64& rng, uint64_t n) {
  SP_CHECK(n >= 1, "uniform_below needs n >= 1");
  // 2^64 mod n, computed in 64-bit arithmetic: draws below it would make small values more likely.
  const uint64_t threshold = (0 - n) % n;
  for (;;) {
    const uint64_t x = rng();
    if (x >= threshold) return x % n;
  }
}

int64_t uniform_int(std::mt19937_64& rng, int64_t lo, int64_t hi) {
  SP_CHECK(lo <= hi, "uniform_int needs lo <= hi ({} > {})", lo, hi);
  const uint64_t span = uint64_t(hi) - uint64_t(lo);
  if (span == std::numeric_limits<uint64_t>::max()) return int64_t(rng());
  return int64_t(uint64_t(lo) + uniform_below(rng, span + 1));
}

namespace {

// Upper bound on document draws in a row that find no long-enough document. With at least one long
// document among n the chance to exceed it is about exp(-1000); it only guards the impossible case
// before every document has been seen.
int64_t max_failed_draws(int64_t ndocs) { return 1000 * ndocs + 1000; }

WindowRef draw_document_window(Dataset& data, std::mt19937_64& rng, int64_t seqlen,
                               std::unordered_set<int64_t>& too_short, int64_t& longest) {
  const int64_t ndocs = data.num_documents();
  for (int64_t failed = 0;; ++failed) {
    SP_REQUIRE(int64_t(too_short.size()) < ndocs && failed < max_failed_draws(ndocs),
               "{}: no document is longer than seqlen = {} tokens (longest seen: {} tokens of {} documents)",
               data.path(), seqlen, longest, too_short.size());
    const int64_t d = uniform_int(rng, 0, ndocs - 1);
    const int64_t len = data.document_length(d);
    longest = std::max(longest, len);
    if (len > seqlen) return {d, uniform_int(rng, 0, len - seqlen - 1)};
    too_short.insert(d);
  }
}

}  // namespace

CalibrationPlan plan_windows(Dataset& data, int64_t nsamples, int64_t seqlen, uint64_t seed) {
  SP_REQUIRE(nsamples >= 1, "{}: nsamples = {} must be at least 1", data.path(), nsamples);
  SP_REQUIRE(seqlen >= 1, "{}: seqlen = {} must be at least 1", data.path(), seqlen);
  CalibrationPlan plan;
  plan.seqlen = seqlen;
  plan.seed = seed;
  plan.windows.reserve(size_t(nsamples));
  std::mt19937_64 rng(seed);
  if (data.has_documents()) {
    std::unordered_set<int64_t> too_short;
    int64_t longest = 0;
    for (int64_t s = 0; s < nsamples; ++s) plan.windows.push_back(draw_document_window(data, rng, seqlen, too_short, longest));
  } else {
    const int64_t len = data.stream_length();
    SP_REQUIRE(len > seqlen, "{}: {} tokens are too few for windows of seqlen = {} (need more than seqlen)",
               data.path(), len, seqlen);
    for (int64_t s = 0; s < nsamples; ++s) plan.windows.push_back({-1, uniform_int(rng, 0, len - seqlen - 1)});
  }
  return plan;
}

std::vector<std::vector<int32_t>> materialize(Dataset& data, const CalibrationPlan& plan,
                                              std::span<const int64_t> indices) {
  const auto n = int64_t(plan.windows.size());
  std::vector<std::vector<int32_t>> out;
  out.reserve(indices.size());
  std::map<int64_t, std::vector<int32_t>> docs;  // each needed document tokenized once
  for (int64_t i : indices) {
    SP_CHECK(i >= 0 && i < n, "window index {} outside the plan's {} windows", i, n);
    const WindowRef& w = plan.windows[size_t(i)];
    if (w.source < 0) {
      out.push_back(data.stream_slice(w.offset, plan.seqlen));
      continue;
    }
    auto it = docs.find(w.source);
    if (it == docs.end()) it = docs.emplace(w.source, data.document_ids(w.source)).first;
    const std::vector<int32_t>& ids = it->second;
    SP_CHECK(w.offset >= 0 && w.offset + plan.seqlen <= int64_t(ids.size()),
             "window {} [{}, +{}) outside document {} of {} tokens", i, w.offset, plan.seqlen, w.source, ids.size());
    out.emplace_back(ids.begin() + w.offset, ids.begin() + w.offset + plan.seqlen);
  }
  return out;
}

std::vector<int64_t> rank_share(int64_t nwindows, int rank, int size) {
  SP_CHECK(size >= 1 && rank >= 0 && rank < size, "rank {} of {}", rank, size);
  std::vector<int64_t> mine;
  for (int64_t i = rank; i < nwindows; i += size) mine.push_back(i);
  return mine;
}

std::vector<std::vector<int32_t>> sample_calibration(const DataSpec& spec, const tok::Tokenizer* tokenizer,
                                                     int64_t nsamples, int64_t seqlen, uint64_t seed, int32_t bos) {
  Dataset data(spec, tokenizer, bos);
  const CalibrationPlan plan = plan_windows(data, nsamples, seqlen, seed);
  const std::vector<int64_t> all = rank_share(nsamples, 0, 1);
  return materialize(data, plan, all);
}

}  // namespace sp::data
