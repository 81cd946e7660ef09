#pragma once
// Seeded calibration windows (SparseGPT / Wanda protocol), identical on every machine and for any
// number of MPI ranks. Two steps so that a rank reads only what it needs:
//   plan_windows()  -> where every window lies; computed the same way on every rank;
//   materialize()   -> the ids of a chosen subset of windows (a rank's share).
// The random stream is std::mt19937_64 (its output is fixed by the C++ standard) with our own
// rejection-sampled bounded draw, since std::uniform_int_distribution differs between libraries.
#include <cstdint>
#include <random>
#include <span>
#include <vector>

#include "tokenize/dataset.h"

namespace sp::data {

// Uniform integer in [0, n) without modulo bias (n >= 1): draws below 2^64 mod n are rejected.
uint64_t uniform_below(std::mt19937_64& rng, uint64_t n);
// Uniform integer in [lo, hi], both included (lo <= hi): Python's random.randint contract.
int64_t uniform_int(std::mt19937_64& rng, int64_t lo, int64_t hi);

struct WindowRef {
  int64_t source = -1;  // document index (jsonl), -1 for the token stream
  int64_t offset = 0;   // first token of the window inside the stream / document ids
  bool operator==(const WindowRef&) const = default;
};

struct CalibrationPlan {
  int64_t seqlen = 0;
  uint64_t seed = 0;
  std::vector<WindowRef> windows;  // nsamples, in draw order
};

// Stream (text / wikitext / ids): for each sample i = randint(0, len - seqlen - 1), window
// [i, i + seqlen). Needs len > seqlen. Documents (jsonl, SparseGPT's C4 loader): repeat { d =
// randint(0, ndocs - 1); tokenize d } until len(d) > seqlen, then j = randint(0, len(d) - seqlen - 1)
// inside it. Throws InputError naming the file and seqlen when no document is long enough.
CalibrationPlan plan_windows(Dataset& data, int64_t nsamples, int64_t seqlen, uint64_t seed);

// The ids of windows `indices` of `plan` (each [seqlen]), in the order of `indices`. Tokenizes only
// the documents those windows come from (each once); a stream is sliced.
std::vector<std::vector<int32_t>> materialize(Dataset& data, const CalibrationPlan& plan,
                                              std::span<const int64_t> indices);

// Windows i with i % size == rank: a rank's share of nwindows.
std::vector<int64_t> rank_share(int64_t nwindows, int rank, int size);

// plan + materialize all windows in one process.
std::vector<std::vector<int32_t>> sample_calibration(const DataSpec& spec, const tok::Tokenizer* tokenizer,
                                                     int64_t nsamples, int64_t seqlen, uint64_t seed, int32_t bos);

}  // namespace sp::data
