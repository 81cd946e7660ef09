#include "prune/journal.h"

#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <utility>

#include "core/error.h"
#include "core/log.h"
#include "io/atomic_file.h"
#include "io/safetensors.h"

namespace sp::prune {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr int kFormat = 2;  // 2: derived roles left out of the layer files
const model::Role kLayerRoles[] = {model::Role::AttnNormWeight, model::Role::AttnNormBias,  model::Role::QWeight,
                                   model::Role::QBias,          model::Role::KWeight,       model::Role::KBias,
                                   model::Role::VWeight,        model::Role::VBias,         model::Role::OWeight,
                                   model::Role::OBias,          model::Role::MlpNormWeight, model::Role::MlpNormBias,
                                   model::Role::GateWeight,     model::Role::GateBias,      model::Role::UpWeight,
                                   model::Role::UpBias,         model::Role::DownWeight,    model::Role::DownBias};

// nlohmann writes doubles as the shortest decimal that reads back to the same bits; non-finite
// values (which JSON lacks) travel as strings.
json number(double v) { return std::isfinite(v) ? json(v) : json(fmt::format("{}", v)); }
double number(const json& j) {
  if (j.is_number()) return j.get<double>();
  const std::string s = j.get<std::string>();
  return s == "nan" ? std::nan("") : (s[0] == '-' ? -INFINITY : INFINITY);
}

json read_json(const std::string& path) {
  std::ifstream in(path);
  SP_REQUIRE(in, "{}: cannot read the resume journal", path);
  try {
    return json::parse(in);
  } catch (const json::exception& e) {
    throw InputError(
        fmt::format("{}: the resume journal is damaged ({}); start over with output.overwrite: true", path, e.what()));
  }
}

void write_json(const std::string& path, const json& j) { io::write_file_atomic(path, j.dump(1) + "\n"); }

template <typename T>
Tensor host_tensor(const std::vector<T>& v, DType dt) {
  Tensor t = Tensor::empty({int64_t(v.size())}, dt);
  std::memcpy(t.raw(), v.data(), v.size() * sizeof(T));
  return t;
}

template <typename T>
std::vector<T> host_vector(const Tensor& t) {
  std::vector<T> v(size_t(t.numel()));
  std::memcpy(v.data(), t.raw(), v.size() * sizeof(T));
  return v;
}

json perplexity_rows(const std::vector<PerplexityRow>& rows) {
  json a = json::array();
  for (const auto& r : rows)
    a.push_back({{"name", r.name},
                 {"windows", r.windows},
                 {"tokens", r.tokens},
                 {"mean_nll", number(r.mean_nll)},
                 {"ppl", number(r.ppl)}});
  return a;
}

std::vector<PerplexityRow> perplexity_rows(const json& a) {
  std::vector<PerplexityRow> rows;
  for (const auto& j : a)
    rows.push_back({j.at("name").get<std::string>(), j.at("windows").get<int64_t>(), j.at("tokens").get<int64_t>(),
                    number(j.at("mean_nll")), number(j.at("ppl"))});
  return rows;
}

}  // namespace

Journal::Journal(std::string dir, Inputs inputs, bool resume, bool writer)
    : dir_((fs::path(dir) / ".journal").string()), writer_(writer) {
  const std::string inputs_path = file("inputs.json");
  if (resume && fs::exists(inputs_path)) {
    const json j = read_json(inputs_path);
    // Format 1 (every weight in the layer files) reads as format 2 without derived roles.
    const int format = j.value("format", 0);
    SP_REQUIRE(format == 1 || format == kFormat, "{}: journal format {} is not one this version reads (1, {})",
               inputs_path, format, kFormat);
    Inputs old = j.at("inputs").get<Inputs>();
    std::vector<std::string> changed;
    for (const auto& [k, v] : inputs) {
      auto it = old.find(k);
      if (it == old.end())
        changed.push_back(fmt::format("{} is new ({})", k, v));
      else if (it->second != v)
        changed.push_back(fmt::format("{} was {}, now {}", k, it->second, v));
    }
    for (const auto& [k, v] : old)
      if (!inputs.count(k)) changed.push_back(fmt::format("{} was {}, now absent", k, v));
    SP_REQUIRE(changed.empty(),
               "--resume: the run journalled in {} had other inputs: {}. Resume with the same config, checkpoint and "
               "data, or start over with output.overwrite: true",
               dir_, fmt::join(changed, "; "));
    if (fs::exists(file("pass1.json"))) {
      const json p = read_json(file("pass1.json"));
      Pass1Record r;
      const json& a = p.at("allocation");
      r.allocation.removed = a.at("removed").get<std::vector<int>>();
      r.allocation.budget = a.at("budget").get<int64_t>();
      r.allocation.removed_params = a.at("removed_params").get<int64_t>();
      r.allocation.total_params = a.at("total_params").get<int64_t>();
      r.allocation.lambda = number(a.at("lambda"));
      r.allocation.iterations = a.at("iterations").get<int>();
      r.allocation.primal_residual = number(a.at("primal_residual"));
      r.allocation.dual_residual = number(a.at("dual_residual"));
      r.allocation.converged = a.at("converged").get<bool>();
      r.before = perplexity_rows(p.at("before"));
      r.pass1_seconds = number(p.at("pass1_seconds"));
      r.allocation_seconds = number(p.at("allocation_seconds"));
      r.eval_seconds = number(p.at("eval_seconds"));
      pass1_ = std::move(r);
      while (fs::exists(file(fmt::format("layer_{:05d}.json", layers_done_)))) ++layers_done_;
    }
    SP_LOG_INFO("--resume: {}: {}, {} layer(s) of pass 2 done", dir_,
                pass1_ ? "pass 1 and the allocation done" : "pass 1 not done", layers_done_);
    return;
  }
  if (resume) SP_LOG_INFO("--resume: no journal in {}; starting from the beginning", dir_);
  if (!writer_) return;
  std::error_code ec;
  fs::remove_all(dir_, ec);
  fs::create_directories(dir_, ec);
  SP_REQUIRE(!ec, "{}: cannot create the resume journal: {}", dir_, ec.message());
  write_json(inputs_path, {{"format", kFormat}, {"inputs", inputs}});
}

Journal::~Journal() {
  if (pending_.joinable()) pending_.join();  // an error of that write is lost with the run's own
  std::error_code ec;
  if (writer_ && !fs::exists(file("pass1.json"), ec)) fs::remove_all(dir_, ec);
}

bool Journal::exists(const std::string& dir) {
  std::error_code ec;
  return fs::exists(fs::path(dir) / ".journal" / "inputs.json", ec);
}

std::string Journal::file(const std::string& name) const { return (fs::path(dir_) / name).string(); }

void Journal::save_pass1(const Pass1Record& r) {
  if (!writer_) return;
  const Allocation& a = r.allocation;
  write_json(file("pass1.json"), {{"allocation",
                                   {{"removed", a.removed},
                                    {"budget", a.budget},
                                    {"removed_params", a.removed_params},
                                    {"total_params", a.total_params},
                                    {"lambda", number(a.lambda)},
                                    {"iterations", a.iterations},
                                    {"primal_residual", number(a.primal_residual)},
                                    {"dual_residual", number(a.dual_residual)},
                                    {"converged", a.converged}}},
                                  {"before", perplexity_rows(r.before)},
                                  {"pass1_seconds", number(r.pass1_seconds)},
                                  {"allocation_seconds", number(r.allocation_seconds)},
                                  {"eval_seconds", number(r.eval_seconds)}});
}

void Journal::save_layer(const LayerRecord& rec) {
  if (!writer_) return;
  flush();
  const LayerResult& r = rec.result;
  std::vector<std::pair<std::string, Tensor>> tensors;
  // Host copies now: the device tensors are the pipeline's, and the write outlives this call. They
  // go into one staging buffer (page-locked with a GPU: the copies run at the link's rate), free
  // again once the write in flight is done (flush above).
  std::vector<model::Role> roles;
  std::vector<std::pair<Shape, DType>> layout;
  for (model::Role role : kLayerRoles)
    if (const Tensor& t = rec.weights.at(role); t.defined())
      roles.push_back(role), layout.emplace_back(t.shape(), t.dtype());
  std::vector<Tensor> host = staged_tensors(staging_, layout);
  for (size_t i = 0; i < roles.size(); ++i) {
    host[i].copy_from(rec.weights.at(roles[i]));
    tensors.emplace_back(role_name(roles[i]), std::move(host[i]));
  }
  // Empty vectors stay out of the file (absent = empty).
  if (!r.attention_keep.empty()) tensors.emplace_back("attention_keep", host_tensor(r.attention_keep, DType::U8));
  if (!r.mlp_keep.empty()) tensors.emplace_back("mlp_keep", host_tensor(r.mlp_keep, DType::U8));
  if (!r.attention_scores.empty())
    tensors.emplace_back("attention_scores", host_tensor(r.attention_scores, DType::F64));
  if (!r.mlp_scores.empty()) tensors.emplace_back("mlp_scores", host_tensor(r.mlp_scores, DType::F64));
  const std::string name = fmt::format("layer_{:05d}", r.layer);
  json record = {{"layer", r.layer},
                 {"prunable_params", r.prunable_params},
                 {"removed_params", r.removed_params},
                 {"shape", {r.shape.n_heads, r.shape.n_kv_heads, r.shape.intermediate}},
                 {"attention_error", number(r.attention_error)},
                 {"mlp_error", number(r.mlp_error)},
                 {"added_bias", {rec.added_bias[0], rec.added_bias[1]}}};
  for (model::Role role : rec.derived) record["derived"].push_back(role_name(role));
  // The weights first, the record last: the record marks the layer done.
  pending_ = std::thread([this, tensors = std::move(tensors), name, record = std::move(record)] {
    try {
      io::write_safetensors(file(name + ".safetensors"), tensors);
      write_json(file(name + ".json"), record);
    } catch (...) {
      pending_error_ = std::current_exception();
    }
  });
}

void Journal::flush() {
  if (pending_.joinable()) pending_.join();
  if (pending_error_) std::rethrow_exception(std::exchange(pending_error_, nullptr));
}

LayerRecord Journal::layer(int l, ExecContext& ctx) const {
  SP_CHECK(l < layers_done_, "journal: layer {} is not done", l);
  const std::string name = fmt::format("layer_{:05d}", l);
  const json j = read_json(file(name + ".json"));
  LayerRecord rec;
  LayerResult& r = rec.result;
  r.layer = j.at("layer").get<int>();
  SP_REQUIRE(r.layer == l, "{}: holds layer {}", file(name + ".json"), r.layer);
  r.prunable_params = j.at("prunable_params").get<int64_t>();
  r.removed_params = j.at("removed_params").get<int64_t>();
  const auto shape = j.at("shape").get<std::vector<int>>();
  SP_REQUIRE(shape.size() == 3, "{}: shape must have 3 entries", file(name + ".json"));
  r.shape = {shape[0], shape[1], shape[2]};
  r.attention_error = number(j.at("attention_error"));
  r.mlp_error = number(j.at("mlp_error"));
  rec.added_bias[0] = j.at("added_bias").at(0).get<bool>();
  rec.added_bias[1] = j.at("added_bias").at(1).get<bool>();
  for (const auto& n : j.value("derived", json::array())) {
    const std::string name_of = n.get<std::string>();
    const auto* role = std::find_if(std::begin(kLayerRoles), std::end(kLayerRoles),
                                    [&](model::Role r) { return name_of == role_name(r); });
    SP_REQUIRE(role != std::end(kLayerRoles), "{}: derived role '{}' is not a layer weight", file(name + ".json"),
               name_of);
    rec.derived.push_back(*role);
  }
  const auto st = io::SafetensorsFile::open(file(name + ".safetensors"));
  auto get = [&](const std::string& n) -> Tensor {
    const io::TensorEntry* e = st->find(n);
    return e ? st->view(*e).to(Device::cpu()) : Tensor();
  };
  if (Tensor t = get("attention_keep"); t.defined()) r.attention_keep = host_vector<uint8_t>(t);
  if (Tensor t = get("mlp_keep"); t.defined()) r.mlp_keep = host_vector<uint8_t>(t);
  if (Tensor t = get("attention_scores"); t.defined()) r.attention_scores = host_vector<double>(t);
  if (Tensor t = get("mlp_scores"); t.defined()) r.mlp_scores = host_vector<double>(t);
  rec.weights.layer = l;
  rec.weights.shape = r.shape;
  for (model::Role role : kLayerRoles)
    if (const io::TensorEntry* e = st->find(role_name(role))) rec.weights.at(role) = st->view(*e).to(ctx.device());
  return rec;
}

void Journal::remove() {
  if (!writer_) return;
  flush();
  std::error_code ec;
  fs::remove_all(dir_, ec);
  if (ec) SP_LOG_WARN("{}: could not remove the resume journal: {}", dir_, ec.message());
}

}  // namespace sp::prune
