// Conformance with Hugging Face's `tokenizers` library: hf_tokenizer_conformance.py builds the
// tokenizer.json of each pipeline (LLaMA-3, Qwen2, SmolLM2, GPT-NeoX, DeepSeek-V3, Mistral,
// LLaMA-2, Gemma, and pipelines covering every other supported component) and records the
// library's ids (without and with special tokens) and decodes of a mixed corpus; our tokenizer
// must give the same ids and decodes, and lossless pipelines must round-trip. Skips when Python
// lacks `tokenizers` (launch/test.sh installs it) or the shared vocabularies are missing.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <map>

#include "test_tokenizer_util.h"
#include "test_util.h"
#include "tokenize/tokenizer_hf.h"

namespace sp::tok {
namespace {

namespace fs = std::filesystem;

std::string python() {
  const char* p = std::getenv("STRUPRUNE_PYTHON");
  return p && *p ? p : "python3";
}

TEST(TokenizerConformance, MatchesHuggingFaceTokenizers) {
  SP_REQUIRE_SHARED(gpt2, "data/tokenizers/gpt2/encoder.json");
  SP_REQUIRE_SHARED(llama, "data/tokenizers/llama2/tokenizer.json");
  const fs::path out = fs::temp_directory_path() / ("sp_tok_conformance_" + std::to_string(::getpid()));
  fs::remove_all(out);
  const std::string script = test::source_dir() + "/tests/tokenize/hf_tokenizer_conformance.py";
  const std::string cmd =
      python() + " " + script + " " + test::shared_dir() + " " + out.string() + " > " + out.string() + ".log 2>&1";
  const int rc = std::system(cmd.c_str());
  if (WIFEXITED(rc) && WEXITSTATUS(rc) == 77) GTEST_SKIP() << python() << " lacks the `tokenizers` package";
  ASSERT_EQ(rc, 0) << test::read_text(out.string() + ".log");
  const auto j = test::read_json((out / "cases.json").string());
  std::map<std::string, std::unique_ptr<HfTokenizer>> toks;
  for (const auto& p : j.at("pipelines")) {
    const std::string file = p.at("file");
    toks[p.at("name")] = HfTokenizer::from_json_text(test::read_text(file), file);
  }
  size_t cases = 0, round_trips = 0;
  for (const auto& c : j.at("cases")) {
    const std::string name = c.at("pipeline"), text = c.at("text");
    const HfTokenizer& t = *toks.at(name);
    const auto ids = test::ids_of(c.at("ids"));
    EXPECT_EQ(t.encode(text), ids) << name << " input: '" << text << "'";
    EXPECT_EQ(t.encode_with_specials(text), test::ids_of(c.at("ids_special"))) << name << " input: '" << text << "'";
    const std::string decoded = t.decode(ids);
    EXPECT_EQ(decoded, c.at("decoded").get<std::string>()) << name << " input: '" << text << "'";
    if (c.at("round_trip").get<bool>()) {
      EXPECT_EQ(decoded, text) << name;
      ++round_trips;
    }
    ++cases;
  }
  EXPECT_GE(toks.size(), 20u);
  EXPECT_GT(round_trips, 300u);
  ::testing::Test::RecordProperty("pipelines", std::to_string(toks.size()));
  ::testing::Test::RecordProperty("cases", std::to_string(cases));
  std::cout << toks.size() << " pipelines, " << cases << " cases (" << round_trips << " round trips)\n";
  fs::remove_all(out);
  fs::remove(out.string() + ".log");
}

}  // namespace
}  // namespace sp::tok
