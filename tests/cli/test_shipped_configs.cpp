// Every shipped config (configs/*.yaml): it carries the documented default recipe (each prune.* key
// absent or equal to the schema default, unless its line says `# not default: why`), and it never
// evaluates on its calibration text (no line in common). The schema table is the reference, so the
// check cannot drift from the defaults.
#include <gtest/gtest.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <optional>
#include <regex>
#include <set>
#include <sstream>

#include "cli/config_schema.h"
#include "test_util.h"
#include "tokenize/dataset.h"

namespace sp::cli {
namespace {
namespace fs = std::filesystem;

std::vector<fs::path> shipped_configs() {
  std::vector<fs::path> out;
  for (const auto& e : fs::directory_iterator(fs::path(test::source_dir()) / "configs"))
    if (e.path().extension() == ".yaml") out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

std::string read_file(const fs::path& p) {
  std::ifstream f(p);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

// ---- the recipe

// What to prune (how much, which structures) is the config's purpose, not its recipe.
bool is_target_key(const std::string& path) {
  return path == "prune.sparsity" || path.rfind("prune.structures.", 0) == 0;
}

void collect_leaves(const YAML::Node& n, const std::string& path,
                    std::vector<std::pair<std::string, YAML::Node>>& out) {
  if (n.IsMap()) {
    for (const auto& kv : n) collect_leaves(kv.second, path + "." + kv.first.as<std::string>(), out);
  } else {
    out.emplace_back(path, n);
  }
}

bool equals_default(const KeySpec& k, const YAML::Node& v) {
  const YAML::Node d = YAML::Load(k.default_yaml);
  switch (k.kind) {
    case ValueKind::Float:
      return v.as<double>() == d.as<double>();
    case ValueKind::Int:
      return v.as<int64_t>() == d.as<int64_t>();
    case ValueKind::Bool:
      return v.as<bool>() == d.as<bool>();
    default:
      return v.as<std::string>() == d.as<std::string>();
  }
}

// The lines of the top-level `prune:` block of the raw YAML text (comments kept).
std::vector<std::string> prune_block(const std::string& yaml) {
  std::vector<std::string> out;
  std::istringstream in(yaml);
  bool inside = false;
  for (std::string line; std::getline(in, line);) {
    const bool top = !line.empty() && line[0] != ' ' && line[0] != '#';
    if (top) inside = line.rfind("prune:", 0) == 0;
    if (inside) out.push_back(line);
  }
  return out;
}

// The prune.* keys of `yaml` that differ from the schema default without a `# not default:` comment
// on their line, each as "prune.metric = wanda (default obs)".
std::vector<std::string> undocumented_recipe_changes(const std::string& yaml) {
  std::vector<std::pair<std::string, YAML::Node>> leaves;
  const YAML::Node root = YAML::Load(yaml);
  if (root["prune"]) collect_leaves(root["prune"], "prune", leaves);
  const std::vector<std::string> block = prune_block(yaml);
  std::vector<std::string> out;
  for (const auto& [path, value] : leaves) {
    if (is_target_key(path)) continue;
    const auto& schema = config_schema();
    const auto k = std::find_if(schema.begin(), schema.end(), [&](const KeySpec& s) { return s.path == path; });
    if (k == schema.end()) {
      out.push_back(path + ": not a schema key");
      continue;
    }
    if (equals_default(*k, value)) continue;
    const std::string leaf = path.substr(path.rfind('.') + 1);
    const std::regex on_line("(^|[\\s{,])" + leaf + "\\s*:.*# not default:");
    const bool documented =
        std::any_of(block.begin(), block.end(), [&](const std::string& l) { return std::regex_search(l, on_line); });
    if (!documented) out.push_back(path + " = " + value.as<std::string>() + " (default " + k->default_yaml + ")");
  }
  return out;
}

TEST(ShippedConfigs, RecipeCheckFlagsAnUndocumentedChange) {
  EXPECT_TRUE(undocumented_recipe_changes("prune:\n  sparsity: 0.3\n  metric: obs\n").empty());
  EXPECT_EQ(undocumented_recipe_changes("prune:\n  metric: wanda\n"),
            std::vector<std::string>{"prune.metric = wanda (default obs)"});
  EXPECT_EQ(undocumented_recipe_changes("prune:\n  admm: {rho: 2.0, max_iters: 200}\n"),
            std::vector<std::string>{"prune.admm.rho = 2.0 (default 1.0)"});
  EXPECT_TRUE(undocumented_recipe_changes("prune:\n  metric: wanda   # not default: seconds, not minutes\n").empty());
  // A comment on another key's line does not count.
  EXPECT_EQ(undocumented_recipe_changes("prune:\n  metric: wanda\n  s_max: 0.95  # not default: x\n").size(), 1u);
  // Numbers compare as numbers (1.0e-4 is the default 1e-4).
  EXPECT_TRUE(undocumented_recipe_changes("prune:\n  admm: {tol_dual: 1.0e-4}\n  damping: 0.010\n").empty());
}

TEST(ShippedConfigs, CarryTheDefaultRecipe) {
  const auto configs = shipped_configs();
  ASSERT_GE(configs.size(), 7u);
  for (const fs::path& p : configs) {
    SCOPED_TRACE(p.string());
    const auto changes = undocumented_recipe_changes(read_file(p));
    std::string all;
    for (const std::string& c : changes) all += "\n  " + c;
    EXPECT_TRUE(changes.empty()) << p.filename().string() << ": prune.* keys differ from the schema default "
                                 << "without a `# not default: why` comment on their line:" << all;
  }
}

// ---- calibration and evaluation text

// A path of a shipped config that points into ../shared beside the checkout: the same file under
// test::shared_dir() when the checkout has no such sibling (a worktree, CI's own layout).
std::optional<std::string> locate(const std::string& path) {
  if (fs::exists(path)) return path;
  const std::string norm = fs::path(path).lexically_normal().string();
  const size_t at = norm.rfind("/shared/");
  if (at == std::string::npos) return std::nullopt;
  const std::string there = test::shared_dir() + norm.substr(at + 7);
  if (fs::exists(there)) return there;
  return std::nullopt;
}

// The non-blank lines (stripped) of a data file's text: every document's for jsonl; nullopt for
// pre-tokenized ids (no text to compare).
std::optional<std::set<std::string>> text_lines(const std::string& path, DataFormat format,
                                                const std::string& text_field) {
  data::DataSpec spec;
  spec.path = path;
  spec.format = data::parse_format(to_string(format));
  spec.text_field = text_field;
  const data::Format f = data::resolve_format(spec);
  if (f == data::Format::Ids) return std::nullopt;
  std::vector<std::string> texts;
  if (f == data::Format::Jsonl) {
    const auto docs = data::JsonlDocs::open(path, text_field);
    for (int64_t i = 0; i < docs.size(); ++i) texts.push_back(docs.text(i));
  } else {
    texts.push_back(read_file(path));
  }
  std::set<std::string> lines;
  for (const std::string& t : texts) {
    std::istringstream in(t);
    for (std::string l; std::getline(in, l);) {
      const size_t a = l.find_first_not_of(" \t\r\f\v"), b = l.find_last_not_of(" \t\r\f\v");
      if (a != std::string::npos) lines.insert(l.substr(a, b - a + 1));
    }
  }
  return lines;
}

size_t word_count(const std::string& line) {
  std::istringstream in(line);
  size_t n = 0;
  for (std::string w; in >> w;) ++n;
  return n;
}

// Lines of `b` also in `a`, among those of at least min_words words.
std::vector<std::string> common_lines(const std::set<std::string>& a, const std::set<std::string>& b,
                                      size_t min_words) {
  std::vector<std::string> out;
  for (const std::string& l : b)
    if (a.count(l) && word_count(l) >= min_words) out.push_back(l);
  return out;
}

struct Leak {
  bool checked = false;
  std::string reason;  // why not checked
  std::vector<std::string> shared;
};

// The repo's own texts (examples/) share no non-blank line at all. The shared corpus' held-out
// calibration and evaluation blocks (../shared/data/refcorpus) come from the same sources, so they
// share boilerplate ("}", "----", ".. versionadded:: 3.5", "Traceback (most recent call last):");
// there a shared line counts from 6 words, which any real passage of text has.
Leak calibration_in_eval(const Config& cfg) {
  Leak r;
  const auto calib_path = locate(cfg.calibration.path);
  if (!calib_path) return {false, cfg.calibration.path + " not found", {}};
  const auto calib = text_lines(*calib_path, cfg.calibration.format, cfg.calibration.text_field);
  if (!calib) return {false, "calibration is pre-tokenized ids", {}};
  for (const EvalDataset& d : cfg.eval.datasets) {
    const auto eval_path = locate(d.path);
    if (!eval_path) return {false, d.path + " not found", {}};
    const auto eval = text_lines(*eval_path, d.format, d.text_field);
    if (!eval) continue;
    const std::string repo = fs::path(test::source_dir()).lexically_normal().string();
    const auto in_repo_file = [&](const std::string& f) {
      return fs::path(f).lexically_normal().string().rfind(repo, 0) == 0 && f.find("/shared/") == std::string::npos;
    };
    const bool in_repo = in_repo_file(*calib_path) && in_repo_file(*eval_path);
    for (const std::string& l : common_lines(*calib, *eval, in_repo ? 1 : 6))
      r.shared.push_back(d.name + ": \"" + l + "\"");
  }
  r.checked = true;
  return r;
}

TEST(ShippedConfigs, LeakCheckFindsTheCalibrationTextInEval) {
  // The quickstart as it was before issue 29: evaluated on its calibration text.
  const Config cfg = load_config(
      test::source_dir() + "/configs/quickstart.yaml",
      {"eval.datasets=[{name: richard3, path: '" + test::source_dir() + "/examples/calib.txt', format: text}]"});
  const Leak r = calibration_in_eval(cfg);
  ASSERT_TRUE(r.checked) << r.reason;
  EXPECT_GT(r.shared.size(), 300u);
  // One line of it inside another text is found too (a jsonl document here).
  const fs::path dir = fs::temp_directory_path() / ("sp_leak_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  std::ofstream(dir / "eval.jsonl") << "{\"text\": \"Other text.\\n  Bear with me; I am hungry for revenge,\\n\"}\n";
  const Config one = load_config(test::source_dir() + "/configs/quickstart.yaml",
                                 {"eval.datasets=[{name: j, path: '" + (dir / "eval.jsonl").string() + "'}]"});
  EXPECT_EQ(calibration_in_eval(one).shared, std::vector<std::string>{"j: \"Bear with me; I am hungry for revenge,\""});
  fs::remove_all(dir);
}

TEST(ShippedConfigs, NeverEvaluateOnCalibrationText) {
  int checked = 0;
  for (const fs::path& p : shipped_configs()) {
    SCOPED_TRACE(p.string());
    const Config cfg = load_config(p.string());
    if (cfg.calibration.path.empty() || cfg.eval.datasets.empty()) continue;
    const Leak r = calibration_in_eval(cfg);
    if (!r.checked) {
      std::printf("  %s: not checked (%s)\n", p.filename().c_str(), r.reason.c_str());
      continue;
    }
    ++checked;
    std::printf("  %s: calibration and evaluation share no line\n", p.filename().c_str());
    EXPECT_TRUE(r.shared.empty()) << p.filename().string() << " evaluates on text of its calibration file, e.g. "
                                  << r.shared.front() << " (" << r.shared.size() << " lines)";
  }
  // The quickstart's texts are in the repo: at least it is always checked.
  EXPECT_GE(checked, 1);
}

}  // namespace
}  // namespace sp::cli
