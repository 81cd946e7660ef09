#pragma once
// What the allocation refinement (refine.h) did, for report.json.
#include <utility>
#include <vector>

namespace sp::prune {

struct RefineRound {
  double kl = 0;   // mean KL per token of the allocation measured this round (true sequential)
  int moves = 0;   // exchanges proposed
  std::vector<std::pair<int, double>> candidates;  // (exchanges applied, its KL from the stored variants)
  int taken = 0;   // exchanges of the candidate taken (0: none)
  bool reverted = false;  // this round's allocation measured worse than the previous: returned to that
};

struct RefineReport {
  std::vector<RefineRound> rounds;
  int windows = 0, seqlen = 0;                 // held-out windows the KL is measured on
  std::vector<int> start_removed, removed;     // per block, before and after the refinement
};

}  // namespace sp::prune
