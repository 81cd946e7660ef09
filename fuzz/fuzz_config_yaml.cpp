// libFuzzer target: the run configuration loader (cli/config_schema.h) on arbitrary YAML text:
// parsing, the schema's type checks and the cross-key checks.
#include <cstddef>
#include <cstdint>
#include <string>

#include "cli/config_schema.h"
#include "core/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    (void)sp::cli::load_config_text(std::string(reinterpret_cast<const char*>(data), size), "fuzz.yaml",
                                    "/fuzz-base");
  } catch (const sp::InputError&) {
  }
  return 0;
}
