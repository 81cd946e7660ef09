// sp_prompt_logits MODEL_DIR IDS OUT_JSON [cpu|cuda]: our forward on one prompt, for the
// transformers comparisons in tests/interop (hf_rope_models.py). IDS: comma-separated token ids.
// Writes {"last_logits": [...], "nll": [...]}: the last row's fp32 logits and the per-token NLL
// of tokens 1..T-1 (from every row's logits), exact32 precision.
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "core/error.h"
#include "model/evaluate.h"
#include "model/weight_source.h"

int main(int argc, char** argv) {
  if (argc < 4) {
    std::cerr << "usage: sp_prompt_logits MODEL_DIR IDS OUT_JSON [cpu|cuda]\n";
    return 2;
  }
  try {
    std::vector<int32_t> ids;
    std::stringstream ss(argv[2]);
    for (std::string tok; std::getline(ss, tok, ',');) ids.push_back(std::stoi(tok));
    const bool cuda = argc > 4 && std::string(argv[4]) == "cuda";
    sp::ExecContext ctx(cuda ? sp::Device::cuda(0) : sp::Device::cpu());
    sp::model::Model m(sp::model::open_checkpoint_source(argv[1]), ctx, sp::Precision::Exact32);
    const auto last = sp::model::prompt_last_logits(m, ctx, ids);
    const auto ppl = sp::model::perplexity(m, ctx, ids, int(ids.size()), 1);
    nlohmann::json out = {{"last_logits", last}, {"nll", ppl.first_window_nll}};
    std::ofstream(argv[3]) << out.dump();
  } catch (const std::exception& e) {
    std::cerr << e.what() << "\n";
    return 1;
  }
  return 0;
}
