#include "persist/journal_writer.h"

#include <cmath>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <utility>
#include <vector>

#include "core/log.h"
#include "io/atomic_file.h"
#include "io/output_paths.h"
#include "io/safetensors.h"
#include "persist/journal_read.h"
#include "persist/report.h"

namespace sp::persist {
namespace fs = std::filesystem;
using nlohmann::json;
using prune::Allocation;
using prune::LayerRecord;
using prune::LayerResult;
using prune::Pass1Record;
using prune::PerplexityRow;

namespace {

// nlohmann writes doubles as the shortest decimal that reads back to the same bits; non-finite
// values (which JSON lacks) travel as strings.
json number(double v) { return std::isfinite(v) ? json(v) : json(fmt::format("{}", v)); }

void write_json(const std::string& path, const json& j) { io::write_file_atomic(path, j.dump(1) + "\n"); }

template <typename T>
Tensor host_tensor(const std::vector<T>& v, DType dt) {
  Tensor t = Tensor::empty({int64_t(v.size())}, dt);
  std::memcpy(t.raw(), v.data(), v.size() * sizeof(T));
  return t;
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

// The folder the journal lives in: removals are confined to it (io/output_paths.h).
std::string parent(const std::string& dir) { return fs::path(dir).parent_path().string(); }

}  // namespace

JournalWriter::JournalWriter(std::string dir, const std::map<std::string, std::string>& inputs, bool fresh)
    : dir_(std::move(dir)) {
  if (!fresh) return;
  std::error_code ec;
  io::remove_inside_quietly(parent(dir_), dir_);
  fs::create_directories(dir_, ec);
  if (ec) {
    disable(fmt::format("cannot create the folder: {}", ec.message()));
    return;
  }
  try {
    write_json(file("inputs.json"), {{"format", kJournalFormat}, {"inputs", inputs}});
  } catch (const std::exception& e) {
    disable(e.what());
  }
}

JournalWriter::~JournalWriter() {
  if (pending_.joinable()) pending_.join();  // an error of that write is lost with the run's own
  std::error_code ec;
  if (on_ && !fs::exists(file("pass1.json"), ec)) io::remove_inside_quietly(parent(dir_), dir_);
}

std::string JournalWriter::file(const std::string& name) const { return (fs::path(dir_) / name).string(); }

void JournalWriter::disable(const std::string& what) {
  if (!on_) return;
  on_ = false;
  SP_LOG_WARN(
      "{}: the resume journal cannot be written ({}); the prune continues without it (a later --resume starts "
      "over)",
      dir_, what);
  io::remove_inside_quietly(parent(dir_), dir_);  // a partial journal is no use, and it frees the space it held
}

void JournalWriter::save_pass1(const Pass1Record& r) {
  if (!on_) return;
  const Allocation& a = r.allocation;
  try {
    json j = {{"allocation",
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
              {"eval_seconds", number(r.eval_seconds)}};
    if (r.refine) {
      j["refine"] = refine_json(*r.refine, number);  // as report.json's prune.refine, NaN as "nan"
      json secs = json::object();
      for (const auto& [k, v] : r.refine_seconds) secs[k] = number(v);
      j["refine_seconds"] = secs;
    }
    write_json(file("pass1.json"), j);
  } catch (const std::exception& e) {
    disable(e.what());
  }
}

void JournalWriter::save_layer(const LayerRecord& rec) {
  flush();
  if (!on_) return;
  const LayerResult& r = rec.result;
  std::vector<std::pair<std::string, Tensor>> tensors;
  // Host copies now: the device tensors are the pipeline's, and the write outlives this call. They
  // go into one staging buffer (page-locked with a GPU: the copies run at the link's rate), free
  // again once the write in flight is done (flush above).
  std::vector<model::Role> roles;
  std::vector<std::pair<Shape, DType>> layout;
  for (model::Role role : model::kLayerRoles)
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
    } catch (const std::exception& e) {
      pending_error_ = e.what();
    }
  });
}

void JournalWriter::flush() {
  if (pending_.joinable()) pending_.join();
  if (!pending_error_.empty()) disable(std::exchange(pending_error_, std::string()));
}

void JournalWriter::remove() {
  if (!on_) return;
  flush();
  io::remove_inside_quietly(parent(dir_), dir_);
}

}  // namespace sp::persist
