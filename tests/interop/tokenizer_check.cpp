// Our tokenizer against the ids Hugging Face `tokenizers` gave (tokenizer_oracle.py writes them).
//   sp_tokenizer_check CASES_JSON
// CASES_JSON: {"tokenizers": [{"name", "file"}], "cases": [{"tokenizer", "text", "ids" | "error"}]}
// where "error" means HF failed to encode the text (then we must refuse it too). Every listed file
// is one HF loads, so we must load it. Prints one line per tokenizer and each mismatch; exit 1 on any.
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/error.h"
#include "io/read_file.h"
#include "tokenize/tokenizer_hf.h"

namespace {

std::string show(const std::vector<int32_t>& ids) {
  std::ostringstream s;
  for (size_t i = 0; i < ids.size() && i < 40; ++i) s << (i ? " " : "") << ids[i];
  if (ids.size() > 40) s << " ...";
  return s.str();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: sp_tokenizer_check CASES_JSON\n";
    return 2;
  }
  const auto j = nlohmann::json::parse(sp::io::read_file(argv[1]));
  std::map<std::string, std::unique_ptr<sp::tok::HfTokenizer>> toks;
  std::map<std::string, std::pair<int, int>> tally;  // name -> (cases, mismatches)
  int failures = 0;
  for (const auto& t : j.at("tokenizers")) {
    const std::string name = t.at("name"), file = t.at("file");
    try {
      toks[name] = sp::tok::HfTokenizer::from_json_text(sp::io::read_file(file), file);
    } catch (const std::exception& e) {
      std::cout << "FAIL " << name << ": Hugging Face loads " << file << ", we refuse it: " << e.what() << "\n";
      ++failures;
    }
  }
  for (const auto& c : j.at("cases")) {
    const std::string name = c.at("tokenizer"), text = c.at("text");
    auto& [n, bad] = tally[name];
    ++n;
    const auto it = toks.find(name);
    if (it == toks.end()) {
      ++bad;
      continue;
    }
    std::string got_error;
    std::vector<int32_t> got;
    try {
      got = it->second->encode(text);
    } catch (const sp::InputError& e) {
      got_error = e.what();
    }
    const bool want_error = c.contains("error");
    const auto want = want_error ? std::vector<int32_t>{} : c.at("ids").get<std::vector<int32_t>>();
    if (want_error != !got_error.empty() || got != want) {
      ++bad;
      if (bad <= 5)
        std::cout << "MISMATCH " << name << " text " << nlohmann::json(text).dump()
                  << "\n  hf:  " << (want_error ? "error: " + c.at("error").get<std::string>() : show(want))
                  << "\n  ours: " << (got_error.empty() ? show(got) : "error: " + got_error) << "\n";
    }
  }
  for (const auto& [name, t] : tally) {
    std::cout << (t.second ? "FAIL " : "ok   ") << name << ": " << t.first - t.second << "/" << t.first
              << " cases equal\n";
    failures += t.second;
  }
  std::cout << toks.size() << " tokenizers, " << j.at("cases").size() << " cases, " << failures << " failures\n";
  return failures == 0 ? 0 : 1;
}
