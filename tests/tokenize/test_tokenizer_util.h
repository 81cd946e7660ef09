#pragma once
// Small helpers for the tokenizer tests (file reading, id lists from JSON / llama.cpp .out lines).
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

namespace sp::test {

inline std::string read_text(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::ostringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

inline std::vector<int32_t> ids_of(const nlohmann::json& j) { return j.get<std::vector<int32_t>>(); }

// make_reference.py's wikitext_eval_string: rows = lines of the raw file with their line ends
// (Python splitlines(True); the file holds no line break but "\n", no "\r"), a row whose strip()
// is empty becomes "", rows joined by "\n\n". The file's whitespace is ASCII, so ASCII isspace
// is Python's strip() here.
inline std::string wikitext_eval_string(const std::string& raw) {
  std::string out;
  bool first = true;
  for (size_t pos = 0; pos < raw.size();) {
    size_t end = raw.find('\n', pos);
    end = end == std::string::npos ? raw.size() : end + 1;
    const std::string_view row(raw.data() + pos, end - pos);
    pos = end;
    bool blank = true;
    for (const char c : row) blank = blank && std::isspace(static_cast<unsigned char>(c));
    if (!first) out += "\n\n";
    first = false;
    if (!blank) out += row;
  }
  return out;
}

struct VocabCase {
  std::string text;
  std::vector<int32_t> ids;
};

// llama.cpp vocab test files: see test_tokenizer_vectors.cpp for the convention.
inline std::vector<VocabCase> read_vocab_cases(const std::string& inp_path, const std::string& out_path) {
  const std::string inp = read_text(inp_path), outs = read_text(out_path);
  const std::string sep = "\n__ggml_vocab_test__\n";
  std::vector<VocabCase> cases;
  for (size_t pos = 0; pos < inp.size();) {
    const size_t end = inp.find(sep, pos);
    if (end == std::string::npos) break;
    cases.push_back({inp.substr(pos, end - pos), {}});
    pos = end + sep.size();
  }
  std::istringstream lines(outs);
  std::string line;
  for (auto& c : cases) {
    if (!std::getline(lines, line)) line.clear();  // too few lines: the case fails on its ids
    std::istringstream ids(line);
    for (int32_t id; ids >> id;) c.ids.push_back(id);
  }
  return cases;
}

}  // namespace sp::test
