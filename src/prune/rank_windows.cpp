#include "prune/rank_windows.h"

#include <algorithm>
#include <cmath>
#include <span>

#include "core/error.h"
#include "core/ranges.h"

namespace sp::prune {
namespace {

TokenWindows local_share(const TokenWindows& all, int batch, const Communicator& comm) {
  const auto [first, count] = batch_aligned_range(all.windows, batch, comm.rank(), comm.size());
  TokenWindows t{all.name, {}, count, all.seqlen};
  t.ids.assign(all.ids.begin() + int64_t(first) * all.seqlen, all.ids.begin() + int64_t(first + count) * all.seqlen);
  return t;
}

}  // namespace

RankWindows share_windows(const RunSetup& in, int probe_windows, const Communicator& comm) {
  RankWindows w;
  w.calibration = local_share(in.calibration, in.batch, comm);
  for (const auto& e : in.eval) {
    w.eval.push_back(local_share(e, in.batch, comm));
    w.eval_first.push_back(batch_aligned_range(e.windows, in.batch, comm.rank(), comm.size()).first);
  }
  const TokenWindows& from = in.probe.windows > 0 ? in.probe : in.calibration;
  w.probe_total = std::min(probe_windows, from.windows);
  const TokenWindows head{
      "probe", {from.ids.begin(), from.ids.begin() + int64_t(w.probe_total) * from.seqlen}, w.probe_total, from.seqlen};
  w.probe = local_share(head, 1, comm);
  w.probe_first = batch_aligned_range(w.probe_total, 1, comm.rank(), comm.size()).first;
  w.refine_total = in.refine.windows;
  w.refine = local_share(in.refine, 1, comm);
  w.refine_first = batch_aligned_range(w.refine_total, 1, comm.rank(), comm.size()).first;
  return w;
}

std::vector<double> all_windows(Communicator& comm, const std::vector<double>& local, int first, int total) {
  std::vector<double> all(size_t(total), 0.0);
  std::copy(local.begin(), local.end(), all.begin() + first);
  comm.allreduce_sum(std::span<double>(all));
  return all;
}

double sum_over_windows(Communicator& comm, const std::vector<double>& local, int first, int total) {
  double s = 0.0;
  for (double v : all_windows(comm, local, first, total)) s += v;
  return s;
}

std::vector<PerplexityRow> perplexities(const RunSetup& in, const RankWindows& win,
                                        std::vector<model::HiddenStream>& streams, Communicator& comm) {
  std::vector<PerplexityRow> rows;
  for (size_t i = 0; i < streams.size(); ++i) {
    PerplexityRow r;
    r.name = in.eval[i].name;
    r.windows = in.eval[i].windows;
    r.tokens = int64_t(r.windows) * (in.eval[i].seqlen - 1);
    r.mean_nll =
        sum_over_windows(comm, streams[i].window_nll(), win.eval_first[i], in.eval[i].windows) / double(r.tokens);
    r.ppl = std::exp(r.mean_nll);
    SP_REQUIRE(std::isfinite(r.ppl), "{}: perplexity is not finite (mean NLL {})", r.name, r.mean_nll);
    rows.push_back(r);
  }
  return rows;
}

}  // namespace sp::prune
