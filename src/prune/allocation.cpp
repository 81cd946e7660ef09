// Budget allocation: validation, the global view of the blocks, the closed forms (uniform,
// softmax). The exact greedy (global, tempered direct) and ADMM, whose integer completion it is,
// are in allocation_admm.cpp.
//
// Temperature normalisation: tau multiplies an entropy term measured in parameters, while the
// curves are in whatever unit the scores have. To make tau dimensionless the curves are divided
// by sigma = sum_b f_b(k_b^u) / sum_b k_b^u * unit_params_b, the hull cost per removed parameter
// under the uniform allocation k^u (1 when that is 0/0 or 0), so that the energies average ~1.
// Equivalently (and how the greedy does it, so that tau = 0 is bit-for-bit the global rule) the
// raw curves are kept and the entropy term is weighted by tau * sigma; lambda is then reported in
// raw cost per parameter in every mode.
#include "prune/allocation.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <numeric>
#include <string>

#include "core/error.h"
#include "prune/allocation_detail.h"

namespace sp::prune {
namespace detail {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

// Plain byte packing for allgather (every rank runs the same binary on the same kind of host).
class ByteWriter {
 public:
  template <typename T>
  void put(T v) {
    bytes_.append(reinterpret_cast<const char*>(&v), sizeof v);
  }
  void put_string(const std::string& s) {
    put<int64_t>(static_cast<int64_t>(s.size()));
    bytes_ += s;
  }
  const std::string& str() const { return bytes_; }

 private:
  std::string bytes_;
};

class ByteReader {
 public:
  explicit ByteReader(const std::string& s) : s_(s) {}
  template <typename T>
  T get() {
    SP_CHECK(pos_ + sizeof(T) <= s_.size(), "allocation: short message from a peer ({} bytes)", s_.size());
    T v;
    std::memcpy(&v, s_.data() + pos_, sizeof v);
    pos_ += sizeof v;
    return v;
  }
  std::string get_string() {
    const auto n = static_cast<size_t>(get<int64_t>());
    SP_CHECK(pos_ + n <= s_.size(), "allocation: short message from a peer");
    std::string out = s_.substr(pos_, n);
    pos_ += n;
    return out;
  }
  bool done() const { return pos_ == s_.size(); }

 private:
  const std::string& s_;
  size_t pos_ = 0;
};

// Empty when the block is well formed, else the message (thrown on every rank by the caller).
std::string check_block(const Block& b) {
  const std::string name = block_name(b.layer, b.module);
  if (b.unit_params <= 0 || b.n_units <= 0 || b.fixed_params < 0)
    return fmt::format(
        "allocation: block ({}): unit_params = {} and n_units = {} must both be positive, fixed_params = {} not "
        "negative",
        name, b.unit_params, b.n_units, b.fixed_params);
  if (b.cost.size() != static_cast<size_t>(b.n_units) + 1)
    return fmt::format("allocation: block ({}): removal curve has {} values, expected n_units + 1 = {}", name,
                       b.cost.size(), b.n_units + 1);
  if (b.min_removed < 0 || b.min_removed > b.max_removed || b.max_removed > b.n_units)
    return fmt::format(
        "allocation: block ({}): bounds min_removed = {}, max_removed = {} violate 0 <= min <= max <= {}", name,
        b.min_removed, b.max_removed, b.n_units);
  double scale = 0.0;
  for (size_t k = 0; k < b.cost.size(); ++k) {
    if (!std::isfinite(b.cost[k])) return fmt::format("allocation: block ({}): cost[{}] is not finite", name, k);
    scale = std::max(scale, std::fabs(b.cost[k]));
  }
  if (b.cost[0] != 0.0) return fmt::format("allocation: block ({}): cost[0] = {} must be 0", name, b.cost[0]);
  // Scores summed in different orders may dip by rounding; anything larger is a broken curve.
  const double slack = 1e-12 * scale;
  for (size_t k = 0; k + 1 < b.cost.size(); ++k)
    if (b.cost[k + 1] < b.cost[k] - slack)
      return fmt::format("allocation: block ({}): removal curve decreases, cost[{}] = {} > cost[{}] = {}", name, k,
                         b.cost[k], k + 1, b.cost[k + 1]);
  return {};
}

// x_b = clamp(N_b t exp(q_b), lo_b, hi_b) with the one t > 0 that makes sum x_b = B (water-filling).
// Exact rather than iterated: sum x_b is non-decreasing and piecewise "linear in t" between the
// breakpoints beta = log t where a block meets a bound, so sort them, find the piece that crosses
// B and solve it. Log space and a shift by the largest free q keep tiny temperatures finite.
std::vector<double> water_fill(const GlobalBlocks& gb, const std::vector<double>& q) {
  const int n = gb.size();
  const double budget = static_cast<double>(gb.budget);
  std::vector<double> lo(n), hi(n), lower(n), upper(n), breaks;
  for (int b = 0; b < n; ++b) {
    const BlockInfo& bi = gb.info[b];
    const double size = static_cast<double>(bi.params());
    lo[b] = static_cast<double>(bi.min_removed * bi.unit_params);
    hi[b] = static_cast<double>(bi.max_removed * bi.unit_params);
    lower[b] = lo[b] > 0 ? std::log(lo[b] / size) - q[b] : -kInf;
    upper[b] = hi[b] > 0 ? std::log(hi[b] / size) - q[b] : -kInf;
    for (double v : {lower[b], upper[b]})
      if (std::isfinite(v)) breaks.push_back(v);
  }
  std::sort(breaks.begin(), breaks.end());
  breaks.erase(std::unique(breaks.begin(), breaks.end()), breaks.end());
  auto total_at = [&](double beta) {
    double s = 0.0;
    for (int b = 0; b < n; ++b)
      s += std::clamp(static_cast<double>(gb.info[b].params()) * std::exp(beta + q[b]), lo[b], hi[b]);
    return s;
  };
  size_t j = 0;
  while (j < breaks.size() && total_at(breaks[j]) < budget) ++j;
  const double a = j == 0 ? -kInf : breaks[j - 1], c = j < breaks.size() ? breaks[j] : kInf;
  // On the open piece (a, c) every block is at a bound or free; no breakpoint lies inside it.
  std::vector<double> x(n);
  std::vector<int> free_blocks;
  double fixed = 0.0, qmax = -kInf;
  for (int b = 0; b < n; ++b) {
    if (upper[b] <= a) {
      x[b] = hi[b];
    } else if (lower[b] >= c) {
      x[b] = lo[b];
    } else {
      free_blocks.push_back(b);
      qmax = std::max(qmax, q[b]);
      continue;
    }
    fixed += x[b];
  }
  double weight = 0.0;
  for (int b : free_blocks) weight += static_cast<double>(gb.info[b].params()) * std::exp(q[b] - qmax);
  const double t = weight > 0 ? std::max(0.0, budget - fixed) / weight : 0.0;
  for (int b : free_blocks)
    x[b] = std::clamp(static_cast<double>(gb.info[b].params()) * t * std::exp(q[b] - qmax), lo[b], hi[b]);
  return x;
}

// Whole groups from continuous removed parameters: floor, then one more group for the blocks
// with the largest fractional remainders (ties by (layer, module)), one at a time while that
// brings the total strictly nearer to B (so ties go to the smaller total).
std::vector<int> round_to_groups(const GlobalBlocks& gb, const std::vector<double>& x) {
  const int n = gb.size();
  std::vector<int> k(n);
  std::vector<double> rem(n, 0.0);
  int64_t total = 0;
  for (int b = 0; b < n; ++b) {
    const BlockInfo& bi = gb.info[b];
    double groups = x[b] / static_cast<double>(bi.unit_params);
    // Snap values that are whole up to rounding (0.3 * 10 = 2.9999...) so they are not "remainders".
    const double whole = std::nearbyint(groups);
    if (std::fabs(groups - whole) <= 1e-9 * std::max(1.0, groups)) groups = whole;
    k[b] = std::clamp(static_cast<int>(std::floor(groups)), bi.min_removed, bi.max_removed);
    if (k[b] < bi.max_removed) rem[b] = std::clamp(groups - k[b], 0.0, 1.0);
    total += k[b] * bi.unit_params;
  }
  std::vector<int> order;
  for (int b = 0; b < n; ++b)
    if (rem[b] > 0) order.push_back(b);
  std::stable_sort(order.begin(), order.end(), [&](int l, int r) { return rem[l] > rem[r]; });
  for (int b : order) {
    const int64_t next = total + gb.info[b].unit_params;
    if (std::llabs(next - gb.budget) >= std::llabs(total - gb.budget)) break;
    total = next;
    ++k[b];
  }
  return k;
}

}  // namespace

std::string block_name(int layer, int module) {
  const char* names[] = {"attention", "mlp"};
  return module == 0 || module == 1 ? fmt::format("layer {} {}", layer, names[module])
                                    : fmt::format("layer {} module {}", layer, module);
}

GlobalBlocks validate_and_gather(const std::vector<Block>& local, const AllocationOptions& opt, Communicator& comm) {
  SP_REQUIRE(std::isfinite(opt.sparsity) && opt.sparsity >= 0.0 && opt.sparsity <= 1.0,
             "prune.sparsity = {} must lie in [0, 1]", opt.sparsity);
  ByteWriter out;
  std::string error;
  for (const Block& b : local)
    if (error.empty()) error = check_block(b);
  out.put_string(error);
  out.put<int64_t>(static_cast<int64_t>(local.size()));
  for (const Block& b : local) {
    out.put(b.layer), out.put(b.module), out.put(b.unit_params);
    out.put(b.n_units), out.put(b.min_removed), out.put(b.max_removed), out.put(b.fixed_params);
  }
  const std::vector<std::string> all = comm.allgather(out.str());

  GlobalBlocks gb;
  std::vector<BlockInfo> flat;
  std::vector<int> owner;
  for (size_t r = 0; r < all.size(); ++r) {
    ByteReader in(all[r]);
    const std::string e = in.get_string();
    if (error.empty()) error = e;  // the first error in rank order, the same on every rank
    const auto count = in.get<int64_t>();
    gb.rank_count.push_back(static_cast<int>(count));
    for (int64_t i = 0; i < count; ++i) {
      BlockInfo bi;
      bi.layer = in.get<int>(), bi.module = in.get<int>(), bi.unit_params = in.get<int64_t>();
      bi.n_units = in.get<int>(), bi.min_removed = in.get<int>(), bi.max_removed = in.get<int>();
      bi.fixed_params = in.get<int64_t>();
      flat.push_back(bi);
      owner.push_back(static_cast<int>(r));
    }
  }
  if (!error.empty()) throw InputError(error);

  std::vector<int> order(flat.size());
  std::iota(order.begin(), order.end(), 0);
  auto key = [&](int i) { return std::pair(flat[i].layer, flat[i].module); };
  std::sort(order.begin(), order.end(), [&](int l, int r) { return key(l) < key(r); });
  gb.of_position.resize(flat.size());
  for (size_t g = 0; g < order.size(); ++g) {
    if (g > 0 && key(order[g]) == key(order[g - 1]))
      throw_input("allocation: block ({}) is given twice (ranks {} and {})",
                  block_name(flat[order[g]].layer, flat[order[g]].module), owner[order[g - 1]], owner[order[g]]);
    gb.info.push_back(flat[order[g]]);
    gb.of_position[order[g]] = static_cast<int>(g);
  }
  const int offset = std::accumulate(gb.rank_count.begin(), gb.rank_count.begin() + comm.rank(), 0);
  for (size_t i = 0; i < local.size(); ++i) gb.of_local.push_back(gb.of_position[offset + i]);

  for (const BlockInfo& bi : gb.info) {
    gb.total_params += bi.budget_params();
    gb.min_params += bi.min_removed * bi.unit_params;
    gb.max_params += bi.max_removed * bi.unit_params;
  }
  gb.budget = std::llround(opt.sparsity * static_cast<double>(gb.total_params));
  const double total = static_cast<double>(std::max<int64_t>(gb.total_params, 1));
  SP_REQUIRE(gb.min_params <= gb.budget && gb.budget <= gb.max_params,
             "prune.sparsity = {} asks to remove {} of {} prunable parameters, but the per-layer bounds "
             "prune.s_min / prune.s_max allow only [{}, {}] (sparsity [{:.6g}, {:.6g}])",
             opt.sparsity, gb.budget, gb.total_params, gb.min_params, gb.max_params, gb.min_params / total,
             gb.max_params / total);
  return gb;
}

std::vector<std::vector<double>> GlobalBlocks::gather(const std::vector<std::vector<double>>& local_rows,
                                                      Communicator& comm) const {
  SP_CHECK(local_rows.size() == of_local.size(), "allocation: {} rows for {} local blocks", local_rows.size(),
           of_local.size());
  ByteWriter out;
  for (const auto& row : local_rows) {
    out.put<int64_t>(static_cast<int64_t>(row.size()));
    for (double v : row) out.put(v);
  }
  const std::vector<std::string> all = comm.allgather(out.str());
  SP_CHECK(all.size() == rank_count.size(), "allocation: {} ranks answered, {} expected", all.size(),
           rank_count.size());
  std::vector<std::vector<double>> rows(info.size());
  size_t position = 0;
  for (size_t r = 0; r < all.size(); ++r) {
    ByteReader in(all[r]);
    for (int i = 0; i < rank_count[r]; ++i) {
      std::vector<double>& row = rows[of_position[position++]];
      row.resize(static_cast<size_t>(in.get<int64_t>()));
      for (double& v : row) v = in.get<double>();
    }
    SP_CHECK(in.done(), "allocation: rank {} sent trailing bytes", r);
  }
  return rows;
}

std::vector<double> GlobalBlocks::gather_scalar(const std::vector<double>& local_values, Communicator& comm) const {
  std::vector<std::vector<double>> rows;
  for (double v : local_values) rows.push_back({v});
  std::vector<double> out;
  for (const auto& row : gather(rows, comm)) out.push_back(row.at(0));
  return out;
}

Hull lower_hull(const std::vector<double>& cost) {
  const int n = static_cast<int>(cost.size()) - 1;
  std::vector<int> v;  // hull vertices (monotone chain)
  for (int i = 0; i <= n; ++i) {
    while (v.size() >= 2) {
      const int o = v[v.size() - 2], a = v.back();
      // Drop a when it lies on or above the chord o -> i (slope(o, a) >= slope(a, i)).
      if ((cost[a] - cost[o]) * (i - a) < (cost[i] - cost[a]) * (a - o)) break;
      v.pop_back();
    }
    v.push_back(i);
  }
  Hull h;
  h.slope.resize(n);
  for (size_t s = 0; s + 1 < v.size(); ++s) {
    const double slope = (cost[v[s + 1]] - cost[v[s]]) / (v[s + 1] - v[s]);
    for (int k = v[s]; k < v[s + 1]; ++k) h.slope[k] = slope;
  }
  // Rounding (and the 1e-12 slack of the validation) must not make a marginal cost negative or
  // decreasing: the greedy and the local ADMM solve rely on both.
  double floor = 0.0;
  for (double& s : h.slope) floor = s = std::max(s, floor);
  h.value.assign(n + 1, 0.0);
  for (int k = 0; k < n; ++k) h.value[k + 1] = h.value[k] + h.slope[k];
  return h;
}

std::vector<Hull> local_hulls(const std::vector<Block>& local) {
  std::vector<Hull> hulls;
  for (const Block& b : local) hulls.push_back(lower_hull(b.cost));
  return hulls;
}

std::vector<double> uniform_targets(const GlobalBlocks& gb) { return water_fill(gb, std::vector<double>(gb.size())); }

// Uniform sparsity in whole groups: every block removes the same fraction as nearly as its group
// size allows. Blocks of the coarsest group size (attention units) round to their nearest whole
// group on their own; what that rounding leaves of the budget is shared uniformly by the finer
// blocks, down to the finest (MLP neurons), whose blocks share the last remainder by largest
// fractional part, the total nearest B. (Rounding every block independently misses the budget by
// up to half an attention unit per layer; letting large units absorb the remainder makes a few
// layers lose a whole extra head.)
std::vector<int> uniform_counts(const GlobalBlocks& gb) {
  const int n = gb.size();
  std::vector<int64_t> sizes;
  for (const BlockInfo& b : gb.info) sizes.push_back(b.unit_params);
  std::sort(sizes.begin(), sizes.end(), std::greater<>());
  sizes.erase(std::unique(sizes.begin(), sizes.end()), sizes.end());
  std::vector<int> k(size_t(n), 0);
  std::vector<double> groups(size_t(n), 0.0);  // continuous share of the blocks being placed
  int64_t left = gb.budget;
  for (size_t c = 0; c < sizes.size(); ++c) {
    // One common fraction t for the blocks of this size and finer, water-filled against their
    // bounds: a block pinned at a bound hands its share to the others.
    std::vector<int> pool;
    for (int b = 0; b < n; ++b)
      if (gb.info[size_t(b)].unit_params <= sizes[c]) pool.push_back(b);
    std::vector<int> pinned(size_t(n), 0);  // -1 at min, +1 at max
    for (bool changed = true; changed;) {
      changed = false;
      double fixed = 0, free_params = 0;
      for (int b : pool) {
        const BlockInfo& bi = gb.info[size_t(b)];
        if (pinned[size_t(b)] < 0)
          fixed += double(bi.min_removed * bi.unit_params);
        else if (pinned[size_t(b)] > 0)
          fixed += double(bi.max_removed * bi.unit_params);
        else
          free_params += double(bi.params());
      }
      const double t = free_params > 0 ? std::clamp((double(left) - fixed) / free_params, 0.0, 1.0) : 0.0;
      for (int b : pool) {
        const BlockInfo& bi = gb.info[size_t(b)];
        if (pinned[size_t(b)]) continue;
        groups[size_t(b)] = t * bi.n_units;
        if (groups[size_t(b)] > bi.max_removed) pinned[size_t(b)] = 1, changed = true;
        if (groups[size_t(b)] < bi.min_removed) pinned[size_t(b)] = -1, changed = true;
      }
    }
    const bool finest = c + 1 == sizes.size();
    std::vector<double> rem(size_t(n), -1.0);
    for (int b : pool) {
      const BlockInfo& bi = gb.info[size_t(b)];
      if (bi.unit_params != sizes[c]) continue;
      double g = pinned[size_t(b)] > 0 ? bi.max_removed : pinned[size_t(b)] < 0 ? bi.min_removed : groups[size_t(b)];
      const double whole = std::nearbyint(g);
      if (std::fabs(g - whole) <= 1e-9 * std::max(1.0, g)) g = whole;  // 0.3 * 10 is 3 groups
      k[size_t(b)] = std::clamp(int(finest ? std::floor(g) : std::nearbyint(g)), bi.min_removed, bi.max_removed);
      if (finest && k[size_t(b)] < bi.max_removed) rem[size_t(b)] = g - std::floor(g);
      left -= k[size_t(b)] * bi.unit_params;
    }
    if (!finest) continue;
    std::vector<int> order;
    for (int b = 0; b < n; ++b)
      if (rem[size_t(b)] > 0) order.push_back(b);
    std::stable_sort(order.begin(), order.end(), [&](int l, int r) { return rem[size_t(l)] > rem[size_t(r)]; });
    for (int b : order) {
      const int64_t u = gb.info[size_t(b)].unit_params;
      if (std::llabs(left - u) >= std::llabs(left)) break;
      left -= u;
      ++k[size_t(b)];
    }
  }
  return k;
}

double cost_scale(const GlobalBlocks& gb, const std::vector<Hull>& hulls, const std::vector<int>& uniform,
                  Communicator& comm) {
  std::vector<double> local_cost;
  for (size_t i = 0; i < hulls.size(); ++i) local_cost.push_back(hulls[i].value[uniform[gb.of_local[i]]]);
  const std::vector<double> cost = gb.gather_scalar(local_cost, comm);
  double num = 0.0;
  int64_t den = 0;
  for (int b = 0; b < gb.size(); ++b) {  // global order: the same sum for any split
    num += cost[b];
    den += uniform[b] * gb.info[b].unit_params;
  }
  const double sigma = den > 0 ? num / static_cast<double>(den) : 0.0;
  return sigma > 0 && std::isfinite(sigma) ? sigma : 1.0;
}

std::vector<double> softmax_targets(const GlobalBlocks& gb, const std::vector<Hull>& hulls,
                                    const std::vector<int>& uniform, double sigma, double tau, Communicator& comm) {
  // Energy: the normalised mean hull cost per parameter of the block's uniform share (the first
  // group's when that share is empty).
  std::vector<double> local_energy;
  for (size_t i = 0; i < hulls.size(); ++i) {
    const BlockInfo& bi = gb.info[gb.of_local[i]];
    const int k = uniform[gb.of_local[i]];
    const double per_param = k > 0 ? hulls[i].value[k] / static_cast<double>(k * bi.unit_params)
                                   : hulls[i].slope[0] / static_cast<double>(bi.unit_params);
    local_energy.push_back(per_param / sigma);
  }
  const std::vector<double> energy = gb.gather_scalar(local_energy, comm);
  std::vector<double> q(gb.size());
  for (int b = 0; b < gb.size(); ++b) q[b] = -energy[b] / tau;
  return water_fill(gb, q);
}

Allocation make_allocation(const GlobalBlocks& gb, const std::vector<int>& removed) {
  Allocation a;
  for (int g : gb.of_local) a.removed.push_back(removed[g]);
  a.budget = gb.budget;
  a.total_params = gb.total_params;
  for (int b = 0; b < gb.size(); ++b) a.removed_params += removed[b] * gb.info[b].unit_params;
  return a;
}

}  // namespace detail

using detail::GlobalBlocks;

Allocation allocate_uniform(const std::vector<Block>& local, const AllocationOptions& opt, Communicator& comm) {
  const GlobalBlocks gb = detail::validate_and_gather(local, opt, comm);
  return detail::make_allocation(gb, detail::uniform_counts(gb));
}

Allocation allocate_softmax(const std::vector<Block>& local, const AllocationOptions& opt, Communicator& comm) {
  SP_REQUIRE(std::isfinite(opt.temperature) && opt.temperature > 0.0,
             "prune.temperature = {} must be finite and > 0 for the softmax allocation", opt.temperature);
  const GlobalBlocks gb = detail::validate_and_gather(local, opt, comm);
  const auto hulls = detail::local_hulls(local);
  const std::vector<int> uniform = detail::uniform_counts(gb);
  const double sigma = detail::cost_scale(gb, hulls, uniform, comm);
  const auto x = detail::softmax_targets(gb, hulls, uniform, sigma, opt.temperature, comm);
  return detail::make_allocation(gb, detail::round_to_groups(gb, x));
}

Allocation detail::allocate_mode(const std::vector<Block>& local, const AllocationOptions& opt, Communicator& comm) {
  switch (opt.mode) {
    case AllocationMode::Uniform:
      return allocate_uniform(local, opt, comm);
    case AllocationMode::Global:
      return allocate_global(local, opt, comm);
    case AllocationMode::Softmax:
      return allocate_softmax(local, opt, comm);
    case AllocationMode::Admm:
      return allocate_admm(local, opt, comm);
  }
  throw_failure(__FILE__, __LINE__, fmt::format("allocation: unknown mode {}", static_cast<int>(opt.mode)));
}

Allocation allocate(const std::vector<Block>& local, const AllocationOptions& opt, Communicator& comm) {
  if (opt.round_to > 1 || opt.uniform_shape) return detail::allocate_shaped(local, opt, comm);
  return detail::allocate_mode(local, opt, comm);
}

}  // namespace sp::prune
