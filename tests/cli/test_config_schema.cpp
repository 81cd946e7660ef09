// Config schema and loader: defaults, unknown keys with suggestions, types, ranges, --set
// overrides, the eval.datasets list, path resolution, and every shipped config / documented key.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "cli/config_schema.h"
#include "core/error.h"
#include "test_util.h"

namespace sp::cli {
namespace {
namespace fs = std::filesystem;

// The InputError message of loading `yaml` (with `sets`), or "" when it loads.
std::string load_error(const std::string& yaml, const std::vector<std::string>& sets = {}) {
  try {
    load_config_text(yaml, "run.yaml", "/cfgdir", sets);
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

TEST(ConfigSchema, DefaultsAreTheDocumentedOnes) {
  const Config c = default_config();
  EXPECT_EQ(c.model.dtype, std::nullopt);
  EXPECT_FALSE(c.model.synthetic);
  EXPECT_EQ(c.calibration.format, DataFormat::Auto);
  EXPECT_EQ(c.calibration.text_field, "text");
  EXPECT_EQ(c.calibration.nsamples, 128);
  EXPECT_EQ(c.calibration.seqlen, 0);  // 0 = min(2048, model context)
  EXPECT_EQ(c.calibration.seed, 0);
  EXPECT_EQ(c.prune.method, Method::StructPrune);
  EXPECT_DOUBLE_EQ(c.prune.sparsity, 0.5);
  EXPECT_EQ(c.prune.structures.attention, AttentionUnit::KvGroups);
  EXPECT_TRUE(c.prune.structures.mlp);
  EXPECT_EQ(c.prune.metric, ScoreMetric::Obs);
  EXPECT_EQ(c.prune.normalize, Normalization::Kl);
  EXPECT_EQ(c.prune.refit_target, RefitTarget::Pruned);
  EXPECT_DOUBLE_EQ(c.prune.temperature, 0.5);
  EXPECT_EQ(c.prune.allocation, AllocationMode::Admm);
  EXPECT_DOUBLE_EQ(c.prune.damping, 0.01);
  EXPECT_TRUE(c.prune.reconstruct);
  EXPECT_FALSE(c.runtime.device.has_value());  // auto
  EXPECT_EQ(c.runtime.precision, Precision::Exact32);
  EXPECT_EQ(c.output.masks, "masks.h5");
  EXPECT_EQ(c.output.report, "report.json");
  EXPECT_EQ(c.output.checkpoint, CheckpointForm::Compact);
  EXPECT_FALSE(c.output.overwrite);
  EXPECT_TRUE(c.eval.datasets.empty());
  EXPECT_EQ(c.logging.level, "info");
}

TEST(ConfigSchema, EveryKeyHasDocAndAValidDefault) {
  for (const auto& k : config_schema()) {
    EXPECT_FALSE(k.doc.empty()) << k.path;
    if (k.kind == ValueKind::Enum) {
      EXPECT_FALSE(k.choices.empty()) << k.path;
    }
  }
  // Each default goes through the same validation as a user's value (default_config would throw).
  EXPECT_NO_THROW(default_config());
}

TEST(ConfigSchema, ValuesFromTheFileAreTyped) {
  const Config c = load_config_text(
      "model: {path: ../models/m, dtype: bf16}\n"
      "calibration: {path: /data/c4.jsonl, format: jsonl, nsamples: 64, seqlen: 512}\n"
      "prune:\n  method: wanda-sp\n  sparsity: 0.3\n  structures: {attention: query_per_group, mlp: false}\n"
      "  admm: {rho: 2.5, max_iters: 7}\n"
      "runtime: {device: cpu, precision: bf16, memory_budget_gb: 40}\n",
      "run.yaml", "/cfgdir");
  EXPECT_EQ(c.model.path, "/models/m");  // relative to the config's folder
  EXPECT_EQ(c.model.dtype, DType::BF16);
  EXPECT_EQ(c.calibration.path, "/data/c4.jsonl");
  EXPECT_EQ(c.calibration.format, DataFormat::Jsonl);
  EXPECT_EQ(c.calibration.nsamples, 64);
  EXPECT_EQ(c.prune.method, Method::WandaSp);
  EXPECT_DOUBLE_EQ(c.prune.sparsity, 0.3);
  EXPECT_EQ(c.prune.structures.attention, AttentionUnit::QueryPerGroup);
  EXPECT_FALSE(c.prune.structures.mlp);
  EXPECT_DOUBLE_EQ(c.prune.admm.rho, 2.5);
  EXPECT_EQ(c.prune.admm.max_iters, 7);
  EXPECT_EQ(c.runtime.device, DeviceType::CPU);
  EXPECT_EQ(c.runtime.precision, Precision::BF16);
  EXPECT_DOUBLE_EQ(c.runtime.memory_budget_gb, 40.0);
}

TEST(ConfigSchema, UnknownKeyNamesFileKeyAndSuggestion) {
  const std::string e = load_error("prune:\n  sparsty: 0.3\n");
  EXPECT_NE(e.find("run.yaml:2:3"), std::string::npos) << e;
  EXPECT_NE(e.find("unknown key 'prune.sparsty'"), std::string::npos) << e;
  EXPECT_NE(e.find("did you mean prune.sparsity?"), std::string::npos) << e;

  const std::string deep = load_error("prune:\n  admm:\n    rhoo: 1\n");
  EXPECT_NE(deep.find("prune.admm.rhoo"), std::string::npos) << deep;
  EXPECT_NE(deep.find("did you mean prune.admm.rho?"), std::string::npos) << deep;

  const std::string section = load_error("prnue:\n  sparsity: 0.3\n");
  EXPECT_NE(section.find("unknown key 'prnue'"), std::string::npos) << section;
  EXPECT_NE(section.find("did you mean prune?"), std::string::npos) << section;
}

TEST(ConfigSchema, WrongTypeNamesKeyTypeAndValue) {
  const std::string e = load_error("prune: {sparsity: abc}\n");
  EXPECT_NE(e.find("prune.sparsity"), std::string::npos) << e;
  EXPECT_NE(e.find("expected float in [0, 1)"), std::string::npos) << e;
  EXPECT_NE(e.find("'abc'"), std::string::npos) << e;

  const std::string i = load_error("calibration: {nsamples: 1.5}\n");
  EXPECT_NE(i.find("calibration.nsamples: expected int in [1, 1048576], got '1.5'"), std::string::npos) << i;

  const std::string b = load_error("output: {overwrite: maybe}\n");
  EXPECT_NE(b.find("output.overwrite: expected bool"), std::string::npos) << b;

  const std::string en = load_error("prune: {method: structprun}\n");
  EXPECT_NE(en.find("one of: structprune|magnitude-sp|wanda-sp|flap|wanda-sp+ls|obs-sp+ls"), std::string::npos) << en;
  EXPECT_NE(en.find("did you mean structprune?"), std::string::npos) << en;

  const std::string sec = load_error("prune: 0.5\n");
  EXPECT_NE(sec.find("prune is a section"), std::string::npos) << sec;

  const std::string list = load_error("prune: {sparsity: [0.1, 0.2]}\n");
  EXPECT_NE(list.find("prune.sparsity: expected float"), std::string::npos) << list;
}

TEST(ConfigSchema, RangesAreEnforced) {
  EXPECT_NE(load_error("prune: {sparsity: 1.0}\n").find("prune.sparsity"), std::string::npos);
  EXPECT_NE(load_error("prune: {sparsity: -0.1}\n").find("prune.sparsity"), std::string::npos);
  EXPECT_EQ(load_error("prune: {sparsity: 0.0}\n"), "");
  EXPECT_NE(load_error("prune: {temperature: -1}\n").find("prune.temperature: expected float >= 0"), std::string::npos);
  EXPECT_EQ(load_error("prune: {temperature: 0}\n"), "");  // admm at tau = 0 is the global rule
  EXPECT_NE(load_error("calibration: {nsamples: 0}\n").find("calibration.nsamples"), std::string::npos);
  EXPECT_NE(load_error("prune: {damping: .nan}\n").find("prune.damping"), std::string::npos);
  // Cross-key: the target must lie inside [s_min, s_max].
  EXPECT_NE(load_error("prune: {sparsity: 0.5, s_max: 0.4}\n").find("prune.s_max"), std::string::npos);
  EXPECT_NE(load_error("prune: {structures: {attention: none, mlp: false}}\n").find("nothing can be pruned"),
            std::string::npos);
}

// Issue 25: integer keys are int64 with stated bounds that every user of the key holds (int, or
// uint64 for the seeds): 2^32 + 1 windows must not become 1, 2^31 probe windows not negative.
TEST(ConfigSchema, IntegerKeysAreBoundedForTheirUsers) {
  for (const auto& k : config_schema()) {
    if (k.kind != ValueKind::Int && k.kind != ValueKind::IntList) continue;
    ASSERT_TRUE(k.max.has_value()) << k.path << " has no upper bound";
    ASSERT_TRUE(k.min.has_value()) << k.path << " has no lower bound";
    EXPECT_EQ(*k.max, std::floor(*k.max)) << k.path;
    const bool seed = k.path.find("seed") != std::string::npos;
    EXPECT_LE(*k.max, seed ? 9007199254740992.0 : 2147483647.0) << k.path << ": its users take an int";
    // The bound itself loads (as a --set), one past it is an error naming the key and the range.
    const auto max = int64_t(*k.max);
    const std::string at = fmt::format("{}={}", k.path, max), past = fmt::format("{}={}", k.path, max + 1);
    EXPECT_EQ(load_error("", {at}), "") << at;
    const std::string e = load_error("", {past});
    EXPECT_NE(e.find(k.path), std::string::npos) << e;
    EXPECT_NE(e.find(fmt::format("{}]", max)), std::string::npos) << "the range is not stated: " << e;
  }
  const std::string n = load_error("calibration: {nsamples: 4294967297}\n");
  EXPECT_NE(n.find("calibration.nsamples: expected int in [1, 1048576], got 4294967297"), std::string::npos) << n;
  const std::string p = load_error("", {"prune.probe_windows=2147483648"});
  EXPECT_NE(p.find("prune.probe_windows: expected int in [1, 1048576], got 2147483648"), std::string::npos) << p;
  // Beyond int64 and 2^53 + 1 (which a double would round to the bound): still errors naming the key.
  const std::string big = load_error("", {"calibration.seed=99999999999999999999"});
  EXPECT_NE(big.find("calibration.seed: expected int in [0, 9007199254740992]"), std::string::npos) << big;
  const std::string s53 = load_error("", {"calibration.seed=9007199254740993"});
  EXPECT_NE(s53.find("calibration.seed"), std::string::npos) << s53;
  EXPECT_NE(load_error("", {"bench.batch=[1, 1048577]"}).find("bench.batch[1]"), std::string::npos);
  EXPECT_EQ(load_config_text("calibration: {nsamples: 1048576}\n", "run.yaml", "/cfgdir").calibration.nsamples,
            1048576);
}

// Float keys that become integers are range-checked before the cast.
TEST(ConfigSchema, FloatsThatBecomeBytesAreBounded) {
  const std::string hi = load_error("", {"output.max_shard_gb=1e12"});
  EXPECT_NE(hi.find("output.max_shard_gb: expected float in (0, 1048576]"), std::string::npos) << hi;
  const std::string tiny = load_error("", {"output.max_shard_gb=1e-12"});
  EXPECT_NE(tiny.find("output.max_shard_gb: 1e-12 GiB is less than one byte"), std::string::npos) << tiny;
  EXPECT_NE(load_error("", {"output.max_shard_gb=-1"}).find("output.max_shard_gb"), std::string::npos);
  EXPECT_NE(load_error("", {"output.max_shard_gb=.inf"}).find("output.max_shard_gb"), std::string::npos);
  EXPECT_NE(load_error("", {"runtime.memory_budget_gb=1e30"}).find("runtime.memory_budget_gb"), std::string::npos);
  EXPECT_EQ(load_error("", {"output.max_shard_gb=0.0001"}), "");
}

// Issue 25: every name an output takes inside output.dir is one plain name, checked as the config loads.
TEST(ConfigSchema, OutputNamesAreSingleComponents) {
  const std::string bad[] = {"..", ".", "a/b", "/abs", "a\\b", "../x", ".journal"};
  for (const char* key : {"output.model_dir", "output.masks", "output.report"}) {
    for (const std::string& v : bad) {
      const std::string e = load_error("", {fmt::format("{}='{}'", key, v)});
      EXPECT_NE(e.find(fmt::format("{}: '", key)), std::string::npos) << key << "=" << v << ": " << e;
      EXPECT_NE(e.find("must be a single"), std::string::npos) << e;
      EXPECT_NE(e.find("inside output.dir"), std::string::npos) << e;
    }
    const std::string empty = load_error("", {fmt::format("{}=", key)});
    EXPECT_NE(empty.find(fmt::format("{}: '' must be a single", key)), std::string::npos) << empty;
    const std::string nul = load_error("", {fmt::format("{}=\"a\\0b\"", key)});
    EXPECT_NE(nul.find("NUL"), std::string::npos) << nul;
  }
  const std::string m = load_error("", {"output.model_dir=.."});
  EXPECT_NE(m.find("output.model_dir: '..' must be a single folder name inside output.dir"), std::string::npos) << m;
  const std::string same = load_error("", {"output.masks=report.json"});
  EXPECT_NE(same.find("output.masks and output.report are both 'report.json'"), std::string::npos) << same;
  for (const std::string& v : bad) {
    const std::string e = load_error(fmt::format("eval: {{datasets: [{{name: '{}', path: x.txt}}]}}\n", v));
    EXPECT_NE(e.find("eval.datasets[0].name: '"), std::string::npos) << v << ": " << e;
  }
  EXPECT_EQ(load_error("output: {model_dir: pruned, masks: m.h5, report: r.json}\n"), "");
}

TEST(ConfigSchema, SetOverridesGoThroughTheSameValidation) {
  const Config c = load_config_text("prune: {sparsity: 0.5}\n", "run.yaml", "/cfgdir",
                                    {"prune.sparsity=0.3", "prune.structures.attention=none", "runtime.threads=4",
                                     "model.path=rel/model", "prune.admm={rho: 3}"});
  EXPECT_DOUBLE_EQ(c.prune.sparsity, 0.3);
  EXPECT_EQ(c.prune.structures.attention, AttentionUnit::None);
  EXPECT_EQ(c.runtime.threads, 4);
  EXPECT_DOUBLE_EQ(c.prune.admm.rho, 3.0);
  // --set paths are relative to where the user typed them, not to the config file.
  EXPECT_EQ(c.model.path, (fs::current_path() / "rel/model").lexically_normal().string());

  const std::string unknown = load_error("", {"prune.sparsty=0.3"});
  EXPECT_NE(unknown.find("--set prune.sparsty=0.3"), std::string::npos) << unknown;
  EXPECT_NE(unknown.find("did you mean prune.sparsity?"), std::string::npos) << unknown;
  const std::string bad = load_error("", {"prune.sparsity=2"});
  EXPECT_NE(bad.find("--set prune.sparsity=2"), std::string::npos) << bad;
  EXPECT_NE(bad.find("expected float in [0, 1)"), std::string::npos) << bad;
  EXPECT_NE(load_error("", {"prune.sparsity"}).find("expected key.path=value"), std::string::npos);
}

TEST(ConfigSchema, EvalDatasetsIsATypedList) {
  const Config c = load_config_text(
      "eval:\n  datasets:\n    - {name: wikitext2, path: data/wiki.test.raw, format: wikitext}\n"
      "    - name: c4\n      path: /abs/c4.jsonl\n      text_field: body\n",
      "run.yaml", "/cfgdir", {});
  ASSERT_EQ(c.eval.datasets.size(), 2u);
  EXPECT_EQ(c.eval.datasets[0].name, "wikitext2");
  EXPECT_EQ(c.eval.datasets[0].path, "/cfgdir/data/wiki.test.raw");
  EXPECT_EQ(c.eval.datasets[0].format, DataFormat::Wikitext);
  EXPECT_EQ(c.eval.datasets[1].format, DataFormat::Auto);
  EXPECT_EQ(c.eval.datasets[1].text_field, "body");

  const std::string e = load_error("eval:\n  datasets:\n    - {name: a, path: x, fromat: text}\n");
  EXPECT_NE(e.find("eval.datasets[0].fromat"), std::string::npos) << e;
  EXPECT_NE(e.find("did you mean eval.datasets[0].format?"), std::string::npos) << e;
  EXPECT_NE(load_error("eval: {datasets: [{path: x}]}\n").find("eval.datasets[0].name is required"), std::string::npos);
  EXPECT_NE(load_error("eval: {datasets: [{name: a, path: x}, {name: a, path: y}]}\n").find("used twice"),
            std::string::npos);
  EXPECT_NE(load_error("eval: {datasets: wiki}\n").find("eval.datasets: expected list"), std::string::npos);
  const Config s = load_config_text("", "run.yaml", "/cfgdir", {"eval.datasets=[{name: h, path: /e.txt}]"});
  ASSERT_EQ(s.eval.datasets.size(), 1u);
  EXPECT_EQ(s.eval.datasets[0].path, "/e.txt");
}

TEST(ConfigSchema, BenchListsAreTypedIntLists) {
  const Config d = default_config();
  EXPECT_EQ(d.bench.batch, (std::vector<int64_t>{1, 16}));
  EXPECT_EQ(d.bench.prompt, (std::vector<int64_t>{512, 2048}));
  EXPECT_EQ(d.bench.generate, 128);
  const Config c =
      load_config_text("bench: {batch: [2, 4, 8], prompt: 64}\n", "run.yaml", "/cfgdir", {"bench.repeats=3"});
  EXPECT_EQ(c.bench.batch, (std::vector<int64_t>{2, 4, 8}));
  EXPECT_EQ(c.bench.prompt, (std::vector<int64_t>{64}));  // one int is a list of one
  EXPECT_EQ(c.bench.repeats, 3);
  std::string e = load_error("bench: {batch: [1, 0]}\n");
  EXPECT_NE(e.find("bench.batch[1]: expected int in [1, 1048576], got 0"), std::string::npos) << e;
  e = load_error("bench: {prompt: []}\n");
  EXPECT_NE(e.find("bench.prompt: expected list of int in [1, 1048576]"), std::string::npos) << e;
  e = load_error("bench: {batch: {a: 1}}\n");
  EXPECT_NE(e.find("bench.batch: expected list of int in [1, 1048576]"), std::string::npos) << e;
  // The shape options: defaults, and flap refuses them (its own global cut).
  EXPECT_EQ(d.prune.round_to, 1);
  EXPECT_FALSE(d.prune.uniform_shape);
  EXPECT_NE(load_error("prune: {round_to: 0}\n").find("prune.round_to"), std::string::npos);
  EXPECT_NE(load_error("prune: {method: flap, uniform_shape: true}\n").find("prune.method = flap"), std::string::npos);
}

TEST(ConfigSchema, BadYamlNamesFileAndLine) {
  const std::string e = load_error("prune:\n  sparsity: [0.1\n");
  EXPECT_NE(e.find("run.yaml:"), std::string::npos) << e;
  EXPECT_NE(e.find("invalid YAML"), std::string::npos) << e;
  EXPECT_NE(load_error("- a\n- b\n").find("expected a YAML map"), std::string::npos);
}

TEST(ConfigSchema, NearestKeyByEditDistance) {
  EXPECT_EQ(edit_distance("kitten", "sitting"), 3u);
  EXPECT_EQ(edit_distance("", "abc"), 3u);
  EXPECT_EQ(nearest_key("prune.sparsty", {"prune.s_min", "prune.sparsity", "prune.method"}), "prune.sparsity");
}

// The effective config is complete YAML: loading it again yields the same values.
TEST(ConfigSchema, EffectiveConfigRoundTrips) {
  const Config a = load_config_text("prune: {sparsity: 0.25, method: flap}\neval: {datasets: [{name: e, path: x}]}\n",
                                    "run.yaml", "/cfgdir", {});
  const Config b = load_config_text(a.effective, "effective.yaml", "/elsewhere", {});
  EXPECT_EQ(a.effective, b.effective);
  EXPECT_DOUBLE_EQ(b.prune.sparsity, 0.25);
  EXPECT_EQ(b.eval.datasets.at(0).path, "/cfgdir/x");
}

// Every key of the schema (and of a dataset item) is documented in docs/config.md.
TEST(ConfigSchema, EveryKeyIsInDocsConfigMd) {
  const fs::path doc = fs::path(test::source_dir()) / "docs/config.md";
  std::ifstream f(doc);
  ASSERT_TRUE(f.good()) << doc;
  std::stringstream ss;
  ss << f.rdbuf();
  const std::string text = ss.str();
  // Markdown table cells escape '|'.
  auto escaped = [](const std::string& s) {
    std::string out;
    for (char c : s) {
      if (c == '|') out += '\\';
      out += c;
    }
    return out;
  };
  for (const auto& k : config_schema()) {
    const size_t at = text.find("| `" + k.path + "` |");
    ASSERT_NE(at, std::string::npos) << k.path << " is missing from " << doc;
    // Its table row states the schema's type and doc line.
    const std::string row = text.substr(at, text.find('\n', at) - at);
    EXPECT_NE(row.find(escaped(describe_type(k))), std::string::npos) << row;
    EXPECT_NE(row.find(escaped(k.doc)), std::string::npos) << row;
  }
  for (const auto& k : dataset_item_schema())
    EXPECT_NE(text.find("`eval.datasets[]." + k.path + "`"), std::string::npos) << k.path;
  // The tables are exactly what `struprune-dist --config-reference` prints.
  EXPECT_NE(text.find(config_reference_markdown()), std::string::npos)
      << "docs/config.md: regenerate the key tables with struprune-dist --config-reference";
}

// Every shipped example config is valid against the schema.
TEST(ConfigSchema, ShippedConfigsLoad) {
  int n = 0;
  for (const auto& e : fs::directory_iterator(fs::path(test::source_dir()) / "configs")) {
    if (e.path().extension() != ".yaml") continue;
    EXPECT_NO_THROW(load_config(e.path().string())) << e.path();
    ++n;
  }
  EXPECT_GE(n, 7);
}

}  // namespace
}  // namespace sp::cli
