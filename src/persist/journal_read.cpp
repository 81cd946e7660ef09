#include "persist/journal_read.h"

#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>

#include "core/error.h"
#include "io/byte_source.h"
#include "model/arch.h"

namespace sp::persist {
using nlohmann::json;

namespace {

// The roles a replay may derive from the dense layer (producers that were not refit).
const model::Role kDerivable[] = {model::Role::QWeight, model::Role::KWeight, model::Role::VWeight,
                                  model::Role::GateWeight, model::Role::UpWeight};

std::optional<model::Role> role_named(const std::string& n) {
  for (model::Role r : model::kLayerRoles)
    if (n == model::role_name(r)) return r;
  return std::nullopt;
}

// Typed access: a missing key or a value of another type is damage, named by its key.
struct Reader {
  const std::string& file;
  const json& at(const json& j, const char* key) const {
    if (!j.is_object()) journal_damaged(file, fmt::format("expected an object around '{}'", key));
    const auto it = j.find(key);
    if (it == j.end()) journal_damaged(file, fmt::format("missing key '{}'", key));
    return *it;
  }
  int64_t integer(const json& j, const char* key, int64_t lo = 0,
                  int64_t hi = std::numeric_limits<int64_t>::max()) const {
    const json& v = at(j, key);
    if (!v.is_number_integer()) journal_damaged(file, fmt::format("'{}' is not an integer", key));
    if (v.is_number_unsigned() && v.get<uint64_t>() > uint64_t(std::numeric_limits<int64_t>::max()))
      journal_damaged(file, fmt::format("'{}' = {} is out of range", key, v.dump()));
    const int64_t x = v.get<int64_t>();
    if (x < lo || x > hi) journal_damaged(file, fmt::format("'{}' = {} is outside [{}, {}]", key, x, lo, hi));
    return x;
  }
  bool boolean(const json& v, const char* key) const {
    if (!v.is_boolean()) journal_damaged(file, fmt::format("'{}' is not a boolean", key));
    return v.get<bool>();
  }
  // Doubles as exact decimal round trips; non-finite values (which JSON lacks) as strings.
  double number(const json& v, const char* key) const {
    if (v.is_number()) return v.get<double>();
    if (v.is_string()) {
      const std::string& s = v.get_ref<const std::string&>();
      if (s == "nan") return std::nan("");
      if (s == "inf") return INFINITY;
      if (s == "-inf") return -INFINITY;
    }
    journal_damaged(file, fmt::format("'{}' is not a number", key));
  }
  double number(const json& j, const char* key, bool) const { return number(at(j, key), key); }
  void only_keys(const json& j, std::initializer_list<const char*> keys) const {
    for (const auto& item : j.items())
      if (const std::string& k = item.key();
          std::none_of(keys.begin(), keys.end(), [&](const char* x) { return k == x; }))
        journal_damaged(file, fmt::format("unexpected key '{}'", k));
  }
};

json parse(const std::string& file, const std::string& text) {
  try {
    json j = json::parse(text);
    if (!j.is_object()) journal_damaged(file, "not a JSON object");
    return j;
  } catch (const json::exception& e) {
    journal_damaged(file, e.what());
  }
}

template <typename T>
std::vector<T> vector_of(const io::SafetensorsFile& st, const char* name, DType dt, size_t n) {
  const io::TensorEntry* e = st.find(name);
  if (!e) {
    if (n > 0) journal_damaged(st.path(), fmt::format("tensor '{}' is missing ({} expected)", name, n));
    return {};
  }
  if (e->dtype != dt || e->shape.size() != 1 || size_t(e->shape[0]) != n)
    journal_damaged(st.path(), fmt::format("tensor '{}' is {} {}, expected {} [{}]", name, dtype_name(e->dtype),
                                           shape_str(e->shape), dtype_name(dt), n));
  std::vector<T> v(n);
  if (n > 0) std::memcpy(v.data(), st.bytes(*e), n * sizeof(T));
  return v;
}

// The refinement's record (persist/report.cpp's refine_json), its per-block counts within `units`.
prune::RefineReport parse_refine(const Reader& r, const json& j, const std::vector<int>& units) {
  r.only_keys(j, {"windows", "seqlen", "rounds", "removed_before", "removed_after"});
  prune::RefineReport rep;
  rep.windows = int(r.integer(j, "windows", 0, std::numeric_limits<int>::max()));
  rep.seqlen = int(r.integer(j, "seqlen", 0, std::numeric_limits<int>::max()));
  for (auto [key, out] : {std::pair{"removed_before", &rep.start_removed}, std::pair{"removed_after", &rep.removed}}) {
    const json& v = r.at(j, key);
    if (!v.is_array() || v.size() != units.size())
      journal_damaged(r.file, fmt::format("'refine.{}' must list {} blocks", key, units.size()));
    for (size_t b = 0; b < units.size(); ++b) {
      if (!v[b].is_number_integer() || v[b].get<int64_t>() < 0 || v[b].get<int64_t>() > units[b])
        journal_damaged(r.file, fmt::format("refine.{}[{}] = {} is not a group count in [0, {}]", key, b,
                                            v[b].dump(), units[b]));
      out->push_back(v[b].get<int>());
    }
  }
  const json& rounds = r.at(j, "rounds");
  if (!rounds.is_array()) journal_damaged(r.file, "'refine.rounds' is not an array");
  for (const json& x : rounds) {
    r.only_keys(x, {"kl", "exchanges_proposed", "candidates", "exchanges_taken", "reverted"});
    prune::RefineRound rr;
    rr.kl = r.number(x, "kl", true);
    rr.moves = int(r.integer(x, "exchanges_proposed", 0, std::numeric_limits<int>::max()));
    rr.taken = int(r.integer(x, "exchanges_taken", 0, std::numeric_limits<int>::max()));
    rr.reverted = r.boolean(r.at(x, "reverted"), "reverted");
    const json& cands = r.at(x, "candidates");
    if (!cands.is_array()) journal_damaged(r.file, "'refine.rounds[].candidates' is not an array");
    for (const json& c : cands) {
      r.only_keys(c, {"exchanges", "kl"});
      rr.candidates.emplace_back(int(r.integer(c, "exchanges", 0, std::numeric_limits<int>::max())),
                                 r.number(c, "kl", true));
    }
    rep.rounds.push_back(std::move(rr));
  }
  return rep;
}

}  // namespace

void journal_damaged(const std::string& file, const std::string& what) {
  throw InputError(fmt::format(
      "journal is damaged: {}: {}. Start over without --resume (the journal is left as it is for inspection)", file,
      what));
}

std::unique_ptr<io::SafetensorsFile> open_journal_tensors(const std::string& path,
                                                          std::shared_ptr<io::ByteSource> bytes) {
  try {
    return bytes ? io::SafetensorsFile::parse(std::move(bytes)) : io::SafetensorsFile::open(path);
  } catch (const InputError& e) {
    std::string what = e.what();  // the parser's message names the file too
    if (what.rfind(path + ": ", 0) == 0) what.erase(0, path.size() + 2);
    journal_damaged(path, what);
  }
}

JournalHeader parse_journal_inputs(const std::string& file, const std::string& text) {
  const json j = parse(file, text);
  const Reader r{file};
  r.only_keys(j, {"format", "inputs"});
  JournalHeader h;
  h.format = int(r.integer(j, "format", 0, 1000));
  const json& in = r.at(j, "inputs");
  if (!in.is_object()) journal_damaged(file, "'inputs' is not an object");
  for (const auto& [k, v] : in.items()) {
    if (!v.is_string()) journal_damaged(file, fmt::format("inputs['{}'] is not a string", k));
    h.inputs[k] = v.get<std::string>();
  }
  return h;
}

Pass1Record parse_journal_pass1(const std::string& file, const std::string& text, const JournalExpect& e) {
  const json j = parse(file, text);
  const Reader r{file};
  r.only_keys(j, {"allocation", "before", "pass1_seconds", "allocation_seconds", "eval_seconds", "refine",
                  "refine_seconds"});
  Pass1Record p;
  const json& a = r.at(j, "allocation");
  r.only_keys(a, {"removed", "budget", "removed_params", "total_params", "lambda", "iterations", "primal_residual",
                  "dual_residual", "converged"});
  // One entry per block: the (layer, module) pairs with prunable units, in layer order.
  std::vector<int> units;
  for (int l = 0; l < e.model.n_layers; ++l) {
    const LayerGroups g = layer_groups(e.model, l, e.attention, e.mlp);
    for (int n : {g.attention_units, g.mlp_units})
      if (n > 0) units.push_back(n);
  }
  const json& removed = r.at(a, "removed");
  if (!removed.is_array() || removed.size() != units.size())
    journal_damaged(file, fmt::format("'removed' must list {} blocks", units.size()));
  for (size_t b = 0; b < units.size(); ++b) {
    if (!removed[b].is_number_integer() || removed[b].get<int64_t>() < 0 || removed[b].get<int64_t>() > units[b])
      journal_damaged(file,
                      fmt::format("removed[{}] = {} is not a group count in [0, {}]", b, removed[b].dump(), units[b]));
    p.allocation.removed.push_back(removed[b].get<int>());
  }
  p.allocation.budget = r.integer(a, "budget");
  p.allocation.removed_params = r.integer(a, "removed_params");
  p.allocation.total_params = r.integer(a, "total_params");
  p.allocation.lambda = r.number(a, "lambda", true);
  p.allocation.iterations = int(r.integer(a, "iterations", 0, std::numeric_limits<int>::max()));
  p.allocation.primal_residual = r.number(a, "primal_residual", true);
  p.allocation.dual_residual = r.number(a, "dual_residual", true);
  p.allocation.converged = r.boolean(r.at(a, "converged"), "converged");
  const json& before = r.at(j, "before");
  if (!before.is_array()) journal_damaged(file, "'before' is not an array");
  for (const json& row : before) {
    r.only_keys(row, {"name", "windows", "tokens", "mean_nll", "ppl"});
    const json& name = r.at(row, "name");
    if (!name.is_string()) journal_damaged(file, "'before[].name' is not a string");
    p.before.push_back({name.get<std::string>(), r.integer(row, "windows"), r.integer(row, "tokens"),
                        r.number(row, "mean_nll", true), r.number(row, "ppl", true)});
  }
  p.pass1_seconds = r.number(j, "pass1_seconds", true);
  p.allocation_seconds = r.number(j, "allocation_seconds", true);
  p.eval_seconds = r.number(j, "eval_seconds", true);
  if (j.contains("refine")) {
    p.refine = parse_refine(r, r.at(j, "refine"), units);
    const json& secs = r.at(j, "refine_seconds");
    if (!secs.is_object()) journal_damaged(file, "'refine_seconds' is not an object");
    for (const auto& [k, v] : secs.items()) p.refine_seconds[k] = r.number(v, "refine_seconds");
  }
  return p;
}

LayerRecord parse_journal_layer(const std::string& json_file, const std::string& text, const io::SafetensorsFile& st,
                                int l, const JournalExpect& e, const Allocation& allocation) {
  const json j = parse(json_file, text);
  const Reader r{json_file};
  r.only_keys(j, {"layer", "prunable_params", "removed_params", "shape", "attention_error", "mlp_error", "added_bias",
                  "derived"});
  LayerRecord rec;
  LayerResult& res = rec.result;
  res.layer = int(r.integer(j, "layer", 0, std::numeric_limits<int>::max()));
  if (res.layer != l) journal_damaged(json_file, fmt::format("holds layer {}, expected layer {}", res.layer, l));
  if (l >= e.model.n_layers)
    journal_damaged(json_file, fmt::format("layer {} of a {}-layer model", l, e.model.n_layers));
  res.prunable_params = r.integer(j, "prunable_params");
  res.removed_params = r.integer(j, "removed_params");
  const json& shape = r.at(j, "shape");
  if (!shape.is_array() || shape.size() != 3 ||
      !std::all_of(shape.begin(), shape.end(), [](const json& x) { return x.is_number_integer(); }))
    journal_damaged(json_file, "'shape' must be 3 integers");
  res.shape = {shape[0].get<int>(), shape[1].get<int>(), shape[2].get<int>()};
  res.attention_error = r.number(j, "attention_error", true);
  res.mlp_error = r.number(j, "mlp_error", true);
  const json& bias = r.at(j, "added_bias");
  if (!bias.is_array() || bias.size() != 2) journal_damaged(json_file, "'added_bias' must be 2 booleans");
  rec.added_bias[0] = r.boolean(bias[0], "added_bias");
  rec.added_bias[1] = r.boolean(bias[1], "added_bias");
  if (j.contains("derived")) {
    const json& d = j["derived"];
    if (!d.is_array()) journal_damaged(json_file, "'derived' is not an array");
    for (const json& n : d) {
      const std::optional<model::Role> role = n.is_string() ? role_named(n.get<std::string>()) : std::nullopt;
      if (!role || std::find(std::begin(kDerivable), std::end(kDerivable), *role) == std::end(kDerivable))
        journal_damaged(json_file, fmt::format("derived role {} is not a producer weight", n.dump()));
      if (std::find(rec.derived.begin(), rec.derived.end(), *role) != rec.derived.end())
        journal_damaged(json_file, fmt::format("derived role {} is listed twice", n.dump()));
      rec.derived.push_back(*role);
    }
  }

  // The keep masks: one 0/1 entry per unit of each pruned module, as many zeros as the allocation removed.
  const LayerGroups g = layer_groups(e.model, l, e.attention, e.mlp);
  int block = 0;
  for (int i = 0; i < l; ++i) {
    const LayerGroups gi = layer_groups(e.model, i, e.attention, e.mlp);
    block += (gi.attention_units > 0) + (gi.mlp_units > 0);
  }
  int kept[2] = {g.attention_units, e.model.layers.at(size_t(l)).intermediate};
  const int n_units[2] = {g.attention_units, g.mlp_units};
  const char* keep_names[2] = {"attention_keep", "mlp_keep"};
  const char* score_names[2] = {"attention_scores", "mlp_scores"};
  for (int mod : {0, 1}) {
    const size_t n = size_t(n_units[mod]);
    std::vector<uint8_t> keep = vector_of<uint8_t>(st, keep_names[mod], DType::U8, n);
    std::vector<double> scores;
    if (st.find(score_names[mod])) scores = vector_of<double>(st, score_names[mod], DType::F64, n);
    if (n == 0) continue;
    int ones = 0;
    for (size_t u = 0; u < n; ++u) {
      if (keep[u] > 1)
        journal_damaged(st.path(), fmt::format("{}[{}] = {}, not 0 or 1", keep_names[mod], u, int(keep[u])));
      ones += keep[u];
    }
    const int removed = allocation.removed.at(size_t(block++));
    if (int(n) - ones != removed)
      journal_damaged(st.path(), fmt::format("{} removes {} of {} units; the allocation removes {}", keep_names[mod],
                                             int(n) - ones, n, removed));
    kept[mod] = ones;
    (mod == 0 ? res.attention_keep : res.mlp_keep) = std::move(keep);
    (mod == 0 ? res.attention_scores : res.mlp_scores) = std::move(scores);
  }
  const io::LayerShape want = pruned_shape(e.model, l, e.attention, kept[0], kept[1]);
  if (!(res.shape == want))
    journal_damaged(json_file, fmt::format("shape [{}, {}, {}] does not follow from the keep masks ([{}, {}, {}])",
                                           res.shape.n_heads, res.shape.n_kv_heads, res.shape.intermediate,
                                           want.n_heads, want.n_kv_heads, want.intermediate));
  const int64_t want_removed =
      int64_t(g.attention_units - (n_units[0] ? kept[0] : g.attention_units)) * g.params_per_attention_unit +
      int64_t(g.mlp_units - (n_units[1] ? kept[1] : g.mlp_units)) * g.params_per_mlp_unit;
  if (res.prunable_params != g.prunable_params() || res.removed_params != want_removed)
    journal_damaged(json_file, fmt::format("prunable_params / removed_params = {} / {}, expected {} / {}",
                                           res.prunable_params, res.removed_params, g.prunable_params(), want_removed));

  // The weights: known roles of this layer's pruned shapes, in the output dtype; every weight the
  // layer needs is there or derived.
  io::ModelConfig any_bias = e.model;
  any_bias.layers.at(size_t(l)) = res.shape;
  io::ModelConfig dense_bias = any_bias;
  any_bias.qkv_bias = any_bias.o_bias = any_bias.mlp_bias = true;
  const model::Arch& arch = model::arch_for(e.model);
  std::map<model::Role, Shape> shapes;
  for (const model::TensorSpec& s : arch.layer_specs(any_bias, l)) shapes[s.role] = s.shape;
  std::set<std::string> known = {"attention_keep", "mlp_keep", "attention_scores", "mlp_scores"};
  rec.weights.layer = l;
  rec.weights.shape = res.shape;
  for (const io::TensorEntry& t : st.entries()) {
    if (known.count(t.name)) continue;
    const std::optional<model::Role> role = role_named(t.name);
    if (!role || !shapes.count(*role)) journal_damaged(st.path(), fmt::format("unexpected tensor '{}'", t.name));
    if (std::find(rec.derived.begin(), rec.derived.end(), *role) != rec.derived.end())
      journal_damaged(st.path(), fmt::format("tensor '{}' is also listed as derived", t.name));
    if (t.dtype != e.output_dtype || t.shape != shapes[*role])
      journal_damaged(st.path(), fmt::format("tensor '{}' is {} {}, expected {} {}", t.name, dtype_name(t.dtype),
                                             shape_str(t.shape), dtype_name(e.output_dtype), shape_str(shapes[*role])));
    rec.weights.at(*role) = st.view(t);
  }
  for (const model::TensorSpec& s : arch.layer_specs(dense_bias, l))
    if (!rec.weights.at(s.role).defined() &&
        std::find(rec.derived.begin(), rec.derived.end(), s.role) == rec.derived.end())
      journal_damaged(st.path(), fmt::format("tensor '{}' is missing", model::role_name(s.role)));
  return rec;
}

unsigned parse_journal_fuzz_input(const uint8_t* data, size_t size) {
  static const JournalExpect tiny = [] {
    const json j = {{"model_type", "llama"},    {"hidden_size", 16},
                    {"intermediate_size", 8},   {"num_hidden_layers", 2},
                    {"num_attention_heads", 4}, {"num_key_value_heads", 2},
                    {"vocab_size", 32},         {"max_position_embeddings", 64},
                    {"rms_norm_eps", 1e-5},     {"tie_word_embeddings", true}};
    return JournalExpect{io::parse_model_config(j, "tiny"), AttentionUnit::KvGroups, true, DType::F32};
  }();
  if (size < 1) return 0;
  const std::string rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  if (data[0] == 0) {
    parse_journal_inputs("inputs.json", rest);
    return 0;
  }
  if (data[0] == 1) {
    parse_journal_pass1("pass1.json", rest, tiny);
    return 0;
  }
  uint32_t n = 0;
  if (rest.size() < 4) journal_damaged("fuzz input", "shorter than its length field");
  std::memcpy(&n, rest.data(), 4);
  if (n > rest.size() - 4) journal_damaged("fuzz input", "JSON length beyond the input");
  const std::string tensors = rest.substr(4 + size_t(n));
  const auto st = open_journal_tensors(
      "layer_00000.safetensors",
      io::memory_bytes(std::vector<uint8_t>(tensors.begin(), tensors.end()), "layer_00000.safetensors"));
  Allocation a;
  a.removed = {1, 3, 1, 3};
  const LayerRecord r = parse_journal_layer("layer_00000.json", rest.substr(4, n), *st, 0, tiny, a);
  unsigned sum = 0;
  for (model::Role role : model::kLayerRoles)
    if (const Tensor& t = r.weights.at(role); t.defined() && t.nbytes() > 0)
      sum += unsigned(static_cast<const uint8_t*>(t.raw())[0]) +
             unsigned(static_cast<const uint8_t*>(t.raw())[t.nbytes() - 1]);
  return sum;
}

}  // namespace sp::persist
