#include "prune/run_context.h"

namespace sp::prune {

std::map<model::TapPoint, int64_t> tap_widths(const model::LayerWeights& w, int64_t hidden) {
  using model::TapPoint;
  std::map<TapPoint, int64_t> m;
  for (TapPoint t : {TapPoint::AttnIn, TapPoint::MidResid, TapPoint::MlpIn, TapPoint::LayerOut}) m[t] = hidden;
  if (w.o_w.defined()) m[TapPoint::AttnOIn] = w.o_w.dim(1);
  if (w.down_w.defined()) m[TapPoint::MlpDownIn] = w.down_w.dim(1);
  return m;
}

}  // namespace sp::prune
