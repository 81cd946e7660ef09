#pragma once
// What the parts of one prune run share (removal_curves, module_pruner, pipeline): the model, the
// device, the ranks, the options and the recipe they resolve to, the groups per layer, and the
// per-phase clock of report.json. Internal to prune/.
#include <map>
#include <string>
#include <vector>

#include "core/communicator.h"
#include "core/context.h"
#include "core/log.h"
#include "core/trace_range.h"
#include "model/layer_weights.h"
#include "model/model.h"
#include "prune/groups.h"
#include "prune/options.h"
#include "prune/statistics.h"

namespace sp::prune {

// The two prunable modules of a decoder layer; the index into the tables below.
enum Module { kAttention = 0, kMlp = 1 };
inline constexpr Module kModules[] = {kAttention, kMlp};
inline const char* const kModuleName[] = {"attention", "mlp"};
// Forward taps (model/arch.h) per module: the consumer's and the producers' inputs, and the
// residual stream after the module.
inline constexpr model::TapPoint kConsumerIn[] = {model::TapPoint::AttnOIn, model::TapPoint::MlpDownIn};
inline constexpr model::TapPoint kProducerIn[] = {model::TapPoint::AttnIn, model::TapPoint::MlpIn};
inline constexpr model::TapPoint kResidualOut[] = {model::TapPoint::MidResid, model::TapPoint::LayerOut};

inline std::string where(int layer, int module) { return fmt::format("layer {} {}", layer, kModuleName[module]); }

// The consumer whose input channels a module's groups own: o_proj, down_proj / fc2.
inline const Tensor& consumer_weight(const model::LayerWeights& w, int module) {
  return module == kAttention ? w.o_w : w.down_w;
}

// Channel counts of the forward's taps for layer weights w (a rank without windows still takes
// part in the statistics' reduction and must know their sizes).
std::map<model::TapPoint, int64_t> tap_widths(const model::LayerWeights& w, int64_t hidden);

// Wall seconds per phase (report.json's "seconds"), the device synchronised on both sides of each
// charge so that queued kernels count for the phase that issued them.
class PhaseClock {
 public:
  explicit PhaseClock(ExecContext& ctx) : ctx_(ctx) {}
  // Adds the wall time of f() to seconds[key] and returns f()'s result.
  template <class F>
  auto timed(const std::string& key, F&& f) {
    const TraceRange range(ctx_, key.c_str());
    ctx_.synchronize();
    struct Charge {
      ExecContext& ctx;
      double& acc;
      double t0;
      ~Charge() {
        try {
          ctx.synchronize();
        } catch (...) {  // f() threw: its own error is the one to report
        }
        acc += wall_seconds() - t0;
      }
    } charge{ctx_, seconds_[key], wall_seconds()};
    return f();
  }
  // Runs calibration forwards f() as `phase`.forward, less the statistics that col's taps gathered
  // meanwhile (those count as `phase`.statistics).
  template <class F>
  void forwards(const char* phase, const StatsCollector* col, F&& f) {
    const double s0 = col ? col->seconds() : 0.0;
    const std::string key = fmt::format("{}.forward", phase);
    timed(key, f);
    if (col) seconds_[key] -= col->seconds() - s0;
  }
  double& operator[](const std::string& key) { return seconds_[key]; }
  const std::map<std::string, double>& seconds() const { return seconds_; }

 private:
  ExecContext& ctx_;
  std::map<std::string, double> seconds_;
};

struct RunContext {
  RunContext(model::Model& m, ExecContext& c, Communicator& cm, const PruneOptions& o)
      : model(m), ctx(c), comm(cm), opt(o), recipe(resolve_recipe(o)), cfg(m.config()), clock(c) {
    for (int l = 0; l < cfg.n_layers; ++l) groups.push_back(layer_groups(cfg, l, opt.attention, opt.mlp));
  }
  int units(int layer, int module) const {
    const LayerGroups& g = groups[size_t(layer)];
    return module == kAttention ? g.attention_units : g.mlp_units;
  }
  int64_t unit_params(int layer, int module) const {
    const LayerGroups& g = groups[size_t(layer)];
    return module == kAttention ? g.params_per_attention_unit : g.params_per_mlp_unit;
  }

  model::Model& model;
  ExecContext& ctx;
  Communicator& comm;
  const PruneOptions& opt;
  const Recipe recipe;
  const io::ModelConfig cfg;
  std::vector<LayerGroups> groups;  // per layer
  PhaseClock clock;
};

}  // namespace sp::prune
