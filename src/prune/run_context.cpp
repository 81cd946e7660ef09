#include "prune/run_context.h"

namespace sp::prune {

std::map<std::string, int64_t> tap_widths(const model::LayerWeights& w, int64_t hidden) {
  std::map<std::string, int64_t> m = {
      {"attn_in", hidden}, {"mlp_in", hidden}, {"mid_resid", hidden}, {"layer_out", hidden}};
  if (w.o_w.defined()) m["attn_o_in"] = w.o_w.dim(1);
  if (w.down_w.defined()) m["mlp_down_in"] = w.down_w.dim(1);
  return m;
}

}  // namespace sp::prune
