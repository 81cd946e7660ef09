// libFuzzer target: config.json (io/model_config.h). A config that parses must survive the round
// trip the pruned checkpoints take: model_config_to_json, then parse again, same shapes (an
// InputError on the way back is a finding: the tool would write a config it cannot read).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "io/model_config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const nlohmann::json j = nlohmann::json::parse(data, data + size, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return 0;  // not JSON: load_model_config reports that before this parser
  sp::io::ModelConfig c;
  try {
    c = sp::io::parse_model_config(j, "fuzz/config.json");
  } catch (const sp::InputError&) {
    return 0;
  }
  // What the tool writes must read back: an InputError here is a finding too.
  const sp::io::ModelConfig back = sp::io::parse_model_config(sp::io::model_config_to_json(c), "round trip");
  if (back.layers != c.layers || back.hidden != c.hidden || back.head_dim != c.head_dim || back.vocab != c.vocab)
    std::abort();  // a pruned checkpoint would not read back as written
  return 0;
}
