// Loading a YAML config against the schema: unknown keys (with the nearest valid key), types,
// ranges, `--set` overrides, path resolution, cross-key checks, and the effective-config dump.
#include <yaml-cpp/yaml.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "cli/config_schema.h"
#include "core/error.h"
#include "io/output_paths.h"

namespace sp::cli {
namespace fs = std::filesystem;
namespace {

// Where a value came from, for error messages: "cfg.yaml:12:5" or "--set prune.sparsity=2".
struct Origin {
  std::string label;
  bool from_set = false;
  std::string base_dir;  // relative paths resolve here
  std::string at(const YAML::Node& n) const {
    if (from_set || !n.IsDefined() || n.Mark().is_null()) return label;
    return fmt::format("{}:{}:{}", label, n.Mark().line + 1, n.Mark().column + 1);
  }
};

std::string show(const YAML::Node& n) {
  if (!n.IsDefined() || n.IsNull()) return "null";
  if (n.IsScalar()) return fmt::format("'{}'", n.Scalar());
  YAML::Emitter e;
  e << YAML::Flow << n;
  return e.c_str();
}

const KeySpec* find_spec(const std::string& path) {
  for (const auto& k : config_schema())
    if (k.path == path) return &k;
  return nullptr;
}

std::set<std::string> section_paths() {
  std::set<std::string> out;
  for (const auto& k : config_schema())
    for (size_t p = k.path.find('.'); p != std::string::npos; p = k.path.find('.', p + 1))
      out.insert(k.path.substr(0, p));
  return out;
}

[[noreturn]] void unknown_key(const Origin& o, const YAML::Node& at, const std::string& full) {
  std::vector<std::string> cands;
  for (const auto& k : config_schema()) cands.push_back(k.path);
  for (const auto& s : section_paths()) cands.push_back(s);
  throw_input("{}: unknown key '{}' (did you mean {}?)", o.at(at), full, nearest_key(full, cands));
}

[[noreturn]] void bad_value(const Origin& o, const YAML::Node& n, const std::string& key, const KeySpec& k) {
  throw_input("{}: {}: expected {}, got {}", o.at(n), key, describe_type(k), show(n));
}

std::string resolve_path(const std::string& p, const Origin& o) {
  if (p.empty()) return p;
  fs::path path(p);
  if (path.is_relative()) path = fs::path(o.base_dir) / path;
  return path.lexically_normal().string();
}

ConfigValue parse_value(const KeySpec& k, const YAML::Node& n, const std::string& key, const Origin& o);

std::vector<EvalDataset> parse_datasets(const YAML::Node& n, const std::string& key, const Origin& o) {
  if (n.IsNull()) return {};
  if (!n.IsSequence()) bad_value(o, n, key, *find_spec("eval.datasets"));
  std::vector<EvalDataset> out;
  std::set<std::string> names;
  for (size_t i = 0; i < n.size(); ++i) {
    const YAML::Node item = n[i];
    const std::string ikey = fmt::format("{}[{}]", key, i);
    SP_REQUIRE(item.IsMap(), "{}: {}: expected a map {{name, path, format, text_field}}, got {}", o.at(item), ikey,
               show(item));
    EvalDataset d;
    for (const auto& kv : item) {
      const std::string sub = kv.first.as<std::string>();
      const KeySpec* spec = nullptr;
      std::vector<std::string> cands;
      for (const auto& s : dataset_item_schema()) {
        cands.push_back(s.path);
        if (s.path == sub) spec = &s;
      }
      if (!spec)
        throw_input("{}: unknown key '{}.{}' (did you mean {}.{}?)", o.at(kv.first), ikey, sub, ikey,
                    nearest_key(sub, cands));
      const ConfigValue v = parse_value(*spec, kv.second, ikey + "." + sub, o);
      if (sub == "name") d.name = v.s;
      if (sub == "path") d.path = v.s;
      if (sub == "format") d.format = *enum_from<DataFormat>(kDataFormatNames, v.s);
      if (sub == "text_field") d.text_field = v.s;
    }
    SP_REQUIRE(!d.name.empty(), "{}: {}.name is required", o.at(item), ikey);
    SP_REQUIRE(!d.path.empty(), "{}: {}.path is required", o.at(item), ikey);
    SP_REQUIRE(names.insert(d.name).second, "{}: {}.name '{}' is used twice", o.at(item), ikey, d.name);
    out.push_back(d);
  }
  return out;
}

ConfigValue parse_value(const KeySpec& k, const YAML::Node& n, const std::string& key, const Origin& o) {
  ConfigValue v;
  if (k.kind == ValueKind::DatasetList) {
    v.datasets = parse_datasets(n, key, o);
    return v;
  }
  if (k.kind == ValueKind::IntList) {  // a sequence of ints (one int is a list of one)
    KeySpec item = k;
    item.kind = ValueKind::Int;
    if (n.IsScalar()) {
      v.ints.push_back(parse_value(item, n, key, o).i);
      return v;
    }
    if (!n.IsSequence() || n.size() == 0) bad_value(o, n, key, k);
    for (size_t i = 0; i < n.size(); ++i) v.ints.push_back(parse_value(item, n[i], fmt::format("{}[{}]", key, i), o).i);
    return v;
  }
  if (!n.IsScalar() && !(n.IsNull() && (k.kind == ValueKind::String || k.kind == ValueKind::Path)))
    bad_value(o, n, key, k);
  const std::string text = n.IsNull() ? std::string() : n.Scalar();
  try {
    switch (k.kind) {
      case ValueKind::Bool:
        v.b = n.as<bool>();
        break;
      case ValueKind::Int:  // beyond int64 (or not an integer): YAML::BadConversion, reported below
        v.i = n.as<int64_t>();
        v.f = double(v.i);
        break;
      case ValueKind::Float:
        v.f = n.as<double>();
        if (!std::isfinite(v.f)) bad_value(o, n, key, k);
        break;
      case ValueKind::String:
        v.s = text;
        break;
      case ValueKind::Path:
        v.s = resolve_path(text, o);
        break;
      case ValueKind::Enum: {
        const auto it = std::find(k.choices.begin(), k.choices.end(), text);
        if (it == k.choices.end())
          throw_input("{}: {}: expected {}, got '{}' (did you mean {}?)", o.at(n), key, describe_type(k), text,
                      nearest_key(text, k.choices));
        v.s = text;
        break;
      }
      case ValueKind::DatasetList:
      case ValueKind::IntList:
        break;
    }
  } catch (const YAML::Exception&) {
    bad_value(o, n, key, k);
  }
  if (k.kind == ValueKind::Int) {  // compared as integers: 2^53 + 1 is not 2^53
    const bool lo = !k.min || (k.min_open ? v.i > int64_t(*k.min) : v.i >= int64_t(*k.min));
    const bool hi = !k.max || (k.max_open ? v.i < int64_t(*k.max) : v.i <= int64_t(*k.max));
    if (!lo || !hi) throw_input("{}: {}: expected {}, got {}", o.at(n), key, describe_type(k), text);
  } else if (k.kind == ValueKind::Float) {
    const bool lo = !k.min || (k.min_open ? v.f > *k.min : v.f >= *k.min);
    const bool hi = !k.max || (k.max_open ? v.f < *k.max : v.f <= *k.max);
    if (!lo || !hi) throw_input("{}: {}: expected {}, got {}", o.at(n), key, describe_type(k), text);
  }
  return v;
}

// The canonical value of a key as YAML, after path resolution (for the effective config).
YAML::Node canonical(const KeySpec& k, const ConfigValue& v, const YAML::Node& given) {
  if (k.kind == ValueKind::Path) return YAML::Node(v.s);
  if (k.kind != ValueKind::DatasetList) return YAML::Clone(given);
  YAML::Node seq(YAML::NodeType::Sequence);
  for (const auto& d : v.datasets) {
    YAML::Node m(YAML::NodeType::Map);
    m["name"] = d.name;
    m["path"] = d.path;
    m["format"] = to_string(d.format);
    m["text_field"] = d.text_field;
    seq.push_back(m);
  }
  return seq;
}

class Loader {
 public:
  Loader() : sections_(section_paths()) {}

  void assign(const KeySpec& k, const YAML::Node& n, const Origin& o) {
    const ConfigValue v = parse_value(k, n, k.path, o);
    k.set(cfg_, v);
    values_[k.path] = canonical(k, v, n);
  }

  // Walks a map whose keys sit under `prefix` ("" for the root).
  void walk(const YAML::Node& map, const std::string& prefix, const Origin& o) {
    for (const auto& kv : map) {
      const std::string name = kv.first.IsScalar() ? kv.first.Scalar() : show(kv.first);
      const std::string full = prefix.empty() ? name : prefix + "." + name;
      apply(full, kv.second, kv.first, o);
    }
  }

  void apply(const std::string& full, const YAML::Node& value, const YAML::Node& at, const Origin& o) {
    if (const KeySpec* k = find_spec(full)) return assign(*k, value, o);
    if (sections_.count(full)) {
      if (value.IsNull()) return;  // an empty section keeps its defaults
      SP_REQUIRE(value.IsMap(), "{}: {} is a section: expected a map of its keys, got {}", o.at(value), full,
                 show(value));
      return walk(value, full, o);
    }
    unknown_key(o, at, full);
  }

  Config finish(const std::string& source) {
    cross_check(source);
    cfg_.source = source;
    cfg_.effective = emit();
    return cfg_;
  }

  Config cfg_{};

 private:
  void cross_check(const std::string& label) {
    check_output_names(label);
    // output.max_shard_gb becomes bytes (size_t): the schema caps it at 2^50 bytes; at least one byte.
    SP_REQUIRE(cfg_.output.max_shard_gb * double(1ull << 30) >= 1.0,
               "{}: output.max_shard_gb: {} GiB is less than one byte; expected {}", label, cfg_.output.max_shard_gb,
               describe_type(*find_spec("output.max_shard_gb")));
    const auto& p = cfg_.prune;
    SP_REQUIRE(p.s_min <= p.s_max, "{}: prune.s_min ({}) must not exceed prune.s_max ({})", label, p.s_min, p.s_max);
    SP_REQUIRE(p.sparsity >= p.s_min && p.sparsity <= p.s_max,
               "{}: prune.sparsity ({}) must lie in [prune.s_min, prune.s_max] = [{}, {}]", label, p.sparsity, p.s_min,
               p.s_max);
    SP_REQUIRE(p.sparsity == 0.0 || p.structures.mlp || p.structures.attention != AttentionUnit::None,
               "{}: prune.structures: attention is 'none' and mlp is false, nothing can be pruned", label);
    SP_REQUIRE(p.method != Method::Flap || (p.round_to == 1 && !p.uniform_shape),
               "{}: prune.method = flap makes its own global cut; prune.round_to and prune.uniform_shape need one of "
               "the other methods",
               label);
    // The refinement moves blocks of a curve-based allocation one step at a time (prune/refine.h).
    SP_REQUIRE(p.refine_rounds == 0 ||
                   (p.method == Method::StructPrune && p.allocation != AllocationMode::Uniform && !p.uniform_shape),
               "{}: prune.refine_rounds = {} refines a per-layer allocation: it needs prune.method = structprune "
               "with prune.allocation global, softmax or admm, and prune.uniform_shape false",
               label, p.refine_rounds);
  }

  // Every name the outputs take inside output.dir is one plain name (io::single_name_problem), so no
  // output (and no removal of an earlier one) reaches outside output.dir; the names differ.
  void check_output_names(const std::string& label) const {
    const auto& o = cfg_.output;
    const std::pair<const char*, const std::string*> names[] = {
        {"output.model_dir", &o.model_dir}, {"output.masks", &o.masks}, {"output.report", &o.report}};
    for (const auto& [key, name] : names) {
      const std::string why = io::single_name_problem(*name);
      SP_REQUIRE(why.empty(), "{}: {}: '{}' must be a single {} name inside output.dir: it {}", label, key,
                 printable(*name), std::string_view(key) == "output.model_dir" ? "folder" : "file", why);
    }
    for (size_t i = 0; i < 3; ++i)
      for (size_t j = i + 1; j < 3; ++j)
        SP_REQUIRE(*names[i].second != *names[j].second, "{}: {} and {} are both '{}': each output needs its own name",
                   label, names[i].first, names[j].first, *names[i].second);
    // tokenize writes each evaluation set to output.dir/<name>.npy.
    for (size_t i = 0; i < cfg_.eval.datasets.size(); ++i) {
      const std::string& name = cfg_.eval.datasets[i].name;
      const std::string why = io::single_name_problem(name);
      SP_REQUIRE(why.empty(),
                 "{}: eval.datasets[{}].name: '{}' must be a single file name (tokenize writes output.dir/<name>.npy): "
                 "it {}",
                 label, i, printable(name), why);
    }
  }

  static std::string printable(const std::string& s) {
    std::string out;
    for (char c : s) out += c == '\0' ? std::string("\\0") : std::string(1, c);
    return out;
  }

  // Nested YAML in schema order (sections open/close as the dotted prefix changes).
  std::string emit() const {
    YAML::Emitter e;
    e << YAML::BeginMap;
    std::vector<std::string> open;
    for (const auto& k : config_schema()) {
      std::vector<std::string> parts;
      std::stringstream ss(k.path);
      for (std::string part; std::getline(ss, part, '.');) parts.push_back(part);
      const std::vector<std::string> sec(parts.begin(), parts.end() - 1);
      size_t common = 0;
      while (common < open.size() && common < sec.size() && open[common] == sec[common]) ++common;
      while (open.size() > common) {
        e << YAML::EndMap;
        open.pop_back();
      }
      for (size_t i = common; i < sec.size(); ++i) {
        e << YAML::Key << sec[i] << YAML::Value << YAML::BeginMap;
        open.push_back(sec[i]);
      }
      e << YAML::Key << parts.back() << YAML::Value << values_.at(k.path);
    }
    while (!open.empty()) {
      e << YAML::EndMap;
      open.pop_back();
    }
    e << YAML::EndMap;
    return e.c_str();
  }

  std::set<std::string> sections_;
  std::map<std::string, YAML::Node> values_;
};

YAML::Node parse_yaml(const std::string& text, const std::string& label) {
  try {
    return YAML::Load(text);
  } catch (const YAML::ParserException& e) {
    throw_input("{}:{}:{}: invalid YAML: {}", label, e.mark.line + 1, e.mark.column + 1, e.msg);
  }
}

void apply_defaults(Loader& l) {
  const Origin o{"schema default", false, fs::current_path().string()};
  for (const auto& k : config_schema()) l.assign(k, YAML::Load(k.default_yaml), o);
}

void apply_overrides(Loader& l, const std::vector<std::string>& overrides) {
  for (const auto& ov : overrides) {
    const Origin o{fmt::format("--set {}", ov), true, fs::current_path().string()};
    const size_t eq = ov.find('=');
    SP_REQUIRE(eq != std::string::npos && eq > 0, "--set {}: expected key.path=value", ov);
    const std::string key = ov.substr(0, eq);
    const YAML::Node value = parse_yaml(ov.substr(eq + 1), o.label);
    l.apply(key, value, YAML::Node(), o);
  }
}

}  // namespace

Config default_config() {
  Loader l;
  apply_defaults(l);
  return l.finish("");
}

Config load_config_text(const std::string& yaml_text, const std::string& label, const std::string& base_dir,
                        const std::vector<std::string>& overrides) {
  Loader l;
  apply_defaults(l);
  const YAML::Node root = parse_yaml(yaml_text, label);
  if (root.IsDefined() && !root.IsNull()) {
    SP_REQUIRE(root.IsMap(), "{}: expected a YAML map of sections (model, calibration, prune, ...), got {}", label,
               show(root));
    l.walk(root, "", Origin{label, false, base_dir});
  }
  apply_overrides(l, overrides);
  return l.finish(label);
}

Config load_config(const std::string& yaml_path, const std::vector<std::string>& overrides) {
  std::ifstream f(yaml_path, std::ios::binary);
  SP_REQUIRE(f.good(), "{}: cannot open the config file", yaml_path);
  std::stringstream ss;
  ss << f.rdbuf();
  const fs::path abs = fs::absolute(yaml_path).lexically_normal();
  return load_config_text(ss.str(), yaml_path, abs.parent_path().string(), overrides);
}

}  // namespace sp::cli
