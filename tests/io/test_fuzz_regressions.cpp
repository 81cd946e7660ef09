// Inputs the fuzzers (fuzz/) once crashed on, replayed in the normal suite: every file under
// tests/fuzz_regressions/<target>/ must end in a value or an InputError naming the label, never in
// another exception, a crash or a sanitizer report (the asan preset runs these too).
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "io/byte_source.h"
#include "io/model_config.h"
#include "io/safetensors.h"
#include "io_test_util.h"
#include "test_util.h"

namespace sp::io {
namespace {

namespace fs = std::filesystem;

std::vector<std::string> regression_inputs(const std::string& target) {
  std::vector<std::string> out;
  const fs::path dir = fs::path(sp::test::source_dir()) / "tests/fuzz_regressions" / target;
  if (fs::is_directory(dir))
    for (const auto& e : fs::directory_iterator(dir)) out.push_back(e.path().string());
  std::sort(out.begin(), out.end());
  return out;
}

TEST(FuzzRegressions, Safetensors) {
  for (const std::string& p : regression_inputs("safetensors")) {
    SCOPED_TRACE(p);
    const std::string e = sp::test::input_error([&] { SafetensorsFile::parse(memory_bytes(test::read_bytes(p), p)); });
    EXPECT_NE(e.find(p), std::string::npos) << e;
  }
}

// A JSON number beyond double's range is nlohmann's out_of_range, not its parse_error: every JSON
// reader must still answer with an InputError naming the file.
TEST(FuzzRegressions, JsonNumberOverflowIsAnInputError) {
  test::ScratchDir d;
  const std::string header = R"({"w":{"dtype":"F32","shape":[1e999],"data_offsets":[0,4]}})";
  std::vector<uint8_t> bytes = test::st_bytes(header, {0, 0, 0, 0});
  test::expect_input_error([&] { SafetensorsFile::parse(memory_bytes(bytes, "big.safetensors")); },
                           {"big.safetensors", "not valid JSON"});
  std::ofstream(d / "config.json") << R"({"model_type": "llama", "hidden_size": 1e999})";
  test::expect_input_error([&] { load_model_config(d / "config.json"); }, {d / "config.json", "not valid JSON"});
}

}  // namespace
}  // namespace sp::io
