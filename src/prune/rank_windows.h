#pragma once
// This rank's share of the token windows of a prune run: whole batches of the calibration and
// evaluation windows (the same batches for any rank count), and of the KL probe windows (the first
// probe_windows calibration windows, one per forward call) and of the refinement's windows. Sums over windows are formed in
// window order, so they give the same bits for any rank count.
#include <vector>

#include "core/communicator.h"
#include "model/hidden_stream.h"
#include "prune/pipeline.h"

namespace sp::prune {

struct RankWindows {
  TokenWindows calibration;
  std::vector<TokenWindows> eval;  // per dataset
  std::vector<int> eval_first;     // index of this rank's first window, per dataset
  TokenWindows probe;
  int probe_first = 0, probe_total = 0;
  TokenWindows refine;  // the allocation refinement's held-out windows (refine.h)
  int refine_first = 0, refine_total = 0;
};

RankWindows share_windows(const RunSetup& in, int probe_windows, const Communicator& comm);

// Per-window values of this rank's windows [first, first + local.size()), those of every rank's
// windows: the same bits on every rank and for any rank count (each slot has one non-zero term).
std::vector<double> all_windows(Communicator& comm, const std::vector<double>& local, int first, int total);
// Their sum, in window order.
double sum_over_windows(Communicator& comm, const std::vector<double>& local, int first, int total);

// The perplexity of each evaluation dataset from its stream (one per in.eval entry), over all ranks.
std::vector<PerplexityRow> perplexities(const RunSetup& in, const RankWindows& win,
                                        std::vector<model::HiddenStream>& streams, Communicator& comm);

}  // namespace sp::prune
