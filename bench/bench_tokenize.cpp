// Tokenizer speed: encode the whole WikiText-2 test file (1.3 MB) on one core with each tokenizer
// kind, median of 3 runs (wall and thread CPU time); prints a table and writes JSON.
// Goal: < 1 s per tokenizer.
// Usage: bench_tokenize [shared_dir (default $STRUPRUNE_SHARED_DIR or ../shared)] [out.json]
#include <fmt/format.h>
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "io/read_file.h"
#include "tokenize/tokenizer.h"

namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// CPU time of this thread: on a shared machine wall time also counts other processes' turns.
double thread_cpu_s() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

}  // namespace

int main(int argc, char** argv) {
  const char* env = std::getenv("STRUPRUNE_SHARED_DIR");
  const std::string shared = argc > 1 ? argv[1] : (env && *env ? env : "../shared");
  const std::string out_path = argc > 2 ? argv[2] : "bench_tokenize.json";
  const std::string wiki_path = shared + "/data/wikitext-2-raw/wiki.test.raw";
  if (!std::filesystem::exists(wiki_path)) {
    fmt::print(stderr, "bench_tokenize: {} not found (pass the shared folder as the first argument)\n", wiki_path);
    return 2;
  }
  const std::string text = sp::io::read_file(wiki_path);

  struct Kind {
    std::string name;
    std::function<std::unique_ptr<sp::tok::Tokenizer>()> load;
  };
  const std::vector<Kind> kinds = {
      {"gpt2 vocab.json+merges.txt (byte-level)",
       [&] {
         return sp::tok::Tokenizer::from_vocab_merges(shared + "/data/tokenizers/gpt2/encoder.json",
                                                      shared + "/data/tokenizers/gpt2/vocab.bpe");
       }},
      {"ref-opt tokenizer.json (byte-level)",
       [&] { return sp::tok::Tokenizer::from_model_dir(shared + "/models/ref-opt"); }},
      {"llama2 tokenizer.json (sentencepiece bpe)",
       [&] { return sp::tok::Tokenizer::from_tokenizer_json(shared + "/data/tokenizers/llama2/tokenizer.json"); }},
      {"stories260K vocab.json (llama2.c)",
       [&] { return sp::tok::Tokenizer::from_model_dir(shared + "/models/stories260K-hf"); }},
  };

  nlohmann::json results = nlohmann::json::array();
  fmt::print("{:<44} {:>8} {:>11} {:>10} {:>9} {:>8}\n", "tokenizer", "load s", "encode s", "cpu s", "tokens", "MB/s");
  for (const auto& k : kinds) {
    auto t0 = std::chrono::steady_clock::now();
    const auto tok = k.load();
    const double load_s = seconds_since(t0);
    std::vector<double> runs, cpu;
    size_t n_tokens = 0;
    for (int r = 0; r < 3; ++r) {
      t0 = std::chrono::steady_clock::now();
      const double c0 = thread_cpu_s();
      n_tokens = tok->encode(text).size();
      cpu.push_back(thread_cpu_s() - c0);
      runs.push_back(seconds_since(t0));
    }
    std::sort(runs.begin(), runs.end());
    std::sort(cpu.begin(), cpu.end());
    const double median = runs[1];
    const double mbps = static_cast<double>(text.size()) / 1e6 / median;
    fmt::print("{:<44} {:>8.3f} {:>11.3f} {:>10.3f} {:>9} {:>8.2f}\n", k.name, load_s, median, cpu[1], n_tokens, mbps);
    results.push_back({{"tokenizer", k.name},
                       {"load_s", load_s},
                       {"encode_s_median_of_3", median},
                       {"encode_s_runs", runs},
                       {"encode_cpu_s_median_of_3", cpu[1]},
                       {"tokens", n_tokens},
                       {"bytes", text.size()},
                       {"mb_per_s", mbps},
                       {"goal_s", 1.0},
                       {"meets_goal", median < 1.0}});
  }
  std::ofstream(out_path)
      << nlohmann::json{{"bench", "tokenize"}, {"input", wiki_path}, {"threads", 1}, {"results", results}}.dump(1)
      << "\n";
  fmt::print("wrote {}\n", out_path);
  return 0;
}
