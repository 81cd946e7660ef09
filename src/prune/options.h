#pragma once
// What a pruning run does: the method and its knobs, resolved from the configuration (cli) into
// one Recipe the pipeline follows. Baseline methods fix their recipe (the published algorithm);
// structprune takes the configured metric, allocation, temperature and reconstruction options.
#include <string>

#include "core/enum_names.h"
#include "prune/allocation.h"
#include "prune/groups.h"
#include "prune/scores.h"

namespace sp::prune {

enum class Method { StructPrune, MagnitudeSp, WandaSp, Flap, WandaSpLs, ObsSpLs };
inline constexpr EnumName<Method> kMethodNames[] = {
    {Method::StructPrune, "structprune"}, {Method::MagnitudeSp, "magnitude-sp"},
    {Method::WandaSp, "wanda-sp"},        {Method::Flap, "flap"},
    {Method::WandaSpLs, "wanda-sp+ls"},   {Method::ObsSpLs, "obs-sp+ls"}};
inline const char* to_string(Method m) { return enum_name<Method>(kMethodNames, m); }

// How the removal curves of different modules and layers are put on one scale before the global
// allocation. none: as measured; residual: divided by the energy of the residual stream the module
// writes into (its error relative to the signal downstream layers read through their norms);
// output: divided by the module's own output energy; standardize: FLAP's per-module z-scores;
// kl: each curve scaled so that its cost at the uniform share equals the measured KL divergence of
// the model's next-token predictions when that share is removed (probe windows, pass 1): the error
// priced where it matters, at the output, after every later layer has acted on it.
enum class Normalization { None, Residual, Output, Standardize, Kl };
inline constexpr EnumName<Normalization> kNormalizationNames[] = {{Normalization::None, "none"},
                                                                  {Normalization::Residual, "residual"},
                                                                  {Normalization::Output, "output"},
                                                                  {Normalization::Standardize, "standardize"},
                                                                  {Normalization::Kl, "kl"}};
inline const char* to_string(Normalization n) { return enum_name<Normalization>(kNormalizationNames, n); }

// Least-squares target of the refit: the module's output on the pruned model's inputs (pruned), or
// the dense model's output for the same windows (dense: also corrects the drift of earlier layers).
enum class RefitTarget { Pruned, Dense };
inline constexpr EnumName<RefitTarget> kRefitTargetNames[] = {{RefitTarget::Pruned, "pruned"},
                                                              {RefitTarget::Dense, "dense"}};
inline const char* to_string(RefitTarget t) { return enum_name<RefitTarget>(kRefitTargetNames, t); }

struct PruneOptions {
  Method method = Method::StructPrune;
  double sparsity = 0.5;
  AttentionUnit attention = AttentionUnit::KvGroups;
  bool mlp = true;
  ScoreMetric metric = ScoreMetric::Obs;
  Normalization normalize = Normalization::Kl;
  AllocationMode allocation = AllocationMode::Admm;
  double temperature = 0.5;
  double s_min = 0.0, s_max = 0.95;
  double rho = 1.0;
  int admm_max_iters = 200;
  double admm_tol_primal = 1e-4, admm_tol_dual = 1e-4;
  bool reconstruct = true;
  RefitTarget target = RefitTarget::Pruned;
  bool refit_producers = false;  // also refit q/k/v, gate/up, fc1 towards the dense pre-activations
  bool bias_compensation = false;
  double damping = 0.01;
  bool refit_toward_weights = true;  // ridge towards the original weights (false: towards zero, SPEC)
  int obs_step = 0;                  // groups removed per OBS update; 0: automatic (about n / 256 of n groups)
  bool gram_fp64 = false;            // fp64 Gram products also for bf16 / fp16 activations (ChannelStats)
  int probe_windows = 2;             // normalize kl: calibration windows the output effect is measured on
  int round_to = 1;                  // kept MLP widths are multiples of it (AllocationOptions::round_to)
  bool uniform_shape = false;        // every layer keeps the same shape (AllocationOptions::uniform_shape)
  int refine_rounds = 0;             // rounds of the allocation refinement on held-out windows (refine.h); 0: off
};

// The resolved recipe: what each phase does.
struct Recipe {
  Method method;
  ScoreMetric metric;
  Normalization normalize;
  AllocationMode allocation;
  bool flap_threshold = false;  // FLAP's global cut on standardised scores (one unit per group)
  bool reconstruct;
  RefitTarget target;
  bool bias_compensation;
  bool refit_producers = false;
  bool intercept = true;        // refit a consumer's bias with its weights (baselines: the plain refit)
  bool toward_weights = true;   // the refit damping pulls towards the original weights
  std::string summary() const;  // one line for logs and reports
};
Recipe resolve_recipe(const PruneOptions& o);

}  // namespace sp::prune
