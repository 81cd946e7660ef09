#include "persist/journal.h"

#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <utility>

#include "core/error.h"
#include "core/fnv.h"
#include "core/log.h"
#include "io/atomic_file.h"
#include "io/output_paths.h"
#include "io/read_file.h"
#include "io/safetensors.h"

namespace sp::persist {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr int kFormat = 2;  // 2: derived roles left out of the layer files

// nlohmann writes doubles as the shortest decimal that reads back to the same bits; non-finite
// values (which JSON lacks) travel as strings.
json number(double v) { return std::isfinite(v) ? json(v) : json(fmt::format("{}", v)); }
// The whole file, or "damaged" naming it (a resume only reads files the journal says are there).
std::string read_text(const std::string& path) {
  std::optional<std::string> s = io::try_read_file(path);
  if (!s) journal_damaged(path, "cannot read it");
  return std::move(*s);
}

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

}  // namespace

Journal::Journal(std::string dir, Dependencies inputs, bool resume, bool writer, JournalExpect expect)
    : dir_((fs::path(dir) / ".journal").string()),
      inputs_(std::move(inputs)),
      expect_(std::move(expect)),
      writer_(writer) {
  const std::string inputs_path = file("inputs.json");
  if (resume && fs::exists(inputs_path)) {
    const JournalHeader h = parse_journal_inputs(inputs_path, read_text(inputs_path));
    // Format 1 (every weight in the layer files) reads as format 2 without derived roles.
    if (h.format != 1 && h.format != kFormat)
      journal_damaged(inputs_path, fmt::format("format {} is not one this version reads (1, {})", h.format, kFormat));
    const Dependencies& old = h.inputs;
    std::vector<std::string> changed;
    for (const auto& [k, v] : inputs_) {
      auto it = old.find(k);
      if (it == old.end())
        changed.push_back(fmt::format("{} is new ({})", k, v));
      else if (it->second != v)
        changed.push_back(fmt::format("{} was {}, now {}", k, it->second, v));
    }
    for (const auto& [k, v] : old)
      if (!inputs_.count(k)) changed.push_back(fmt::format("{} was {}, now absent", k, v));
    SP_REQUIRE(changed.empty(),
               "--resume: the run journalled in {} had other inputs: {}. Resume with the same config, checkpoint, "
               "data, version and device, or start over without --resume",
               dir_, fmt::join(changed, "; "));
    // Everything a replay will read is validated now, before any output is touched.
    if (fs::exists(file("pass1.json"))) {
      pass1_ = parse_journal_pass1(file("pass1.json"), read_text(file("pass1.json")), expect_);
      while (layers_done_ < expect_.model.n_layers && fs::exists(file(fmt::format("layer_{:05d}.json", layers_done_))))
        read_layer(layers_done_++, nullptr);
    }
    SP_LOG_INFO("--resume: {}: {}, {} layer(s) of pass 2 done", dir_,
                pass1_ ? "pass 1 and the allocation done" : "pass 1 not done", layers_done_);
    return;
  }
  if (resume) SP_LOG_INFO("--resume: no journal in {}; starting from the beginning", dir_);
  if (!writer_) return;
  std::error_code ec;
  io::remove_inside_quietly(fs::path(dir_).parent_path().string(), dir_);
  if (!ec) fs::create_directories(dir_, ec);
  if (ec) {
    disable(fmt::format("cannot create the folder: {}", ec.message()));
    return;
  }
  try {
    write_json(inputs_path, {{"format", kFormat}, {"inputs", inputs_}});
  } catch (const std::exception& e) {
    disable(e.what());
  }
}

std::string Journal::summary() const {
  Fnv1a f;
  for (const auto& [k, v] : inputs_) {
    f.add(k.c_str(), k.size() + 1);
    f.add(v.c_str(), v.size() + 1);
  }
  return fmt::format("pass 1 {}, {} layer(s) done, inputs fnv1a {:016x}", pass1_ ? "done" : "not done", layers_done_,
                     f.h);
}

void require_same_journal(Communicator& comm, const Journal& j) {
  if (comm.size() < 2) return;
  const std::vector<std::string> seen = comm.allgather(j.summary());
  for (size_t r = 1; r < seen.size(); ++r)
    SP_REQUIRE(seen[r] == seen[0],
               "the ranks see different resume journals in {}: rank 0: {}; rank {}: {}. output.dir must be one "
               "folder that every rank sees alike (a shared filesystem)",
               j.path(), seen[0], r, seen[r]);
}

void Journal::disable(const std::string& what) {
  if (!writer_) return;
  writer_ = false;
  SP_LOG_WARN(
      "{}: the resume journal cannot be written ({}); the prune continues without it (a later --resume starts "
      "over)",
      dir_, what);
  std::error_code ec;
  io::remove_inside_quietly(fs::path(dir_).parent_path().string(),
                            dir_);  // a partial journal is no use, and it frees the space it held
}

Journal::~Journal() {
  if (pending_.joinable()) pending_.join();  // an error of that write is lost with the run's own
  std::error_code ec;
  if (writer_ && !fs::exists(file("pass1.json"), ec))
    io::remove_inside_quietly(fs::path(dir_).parent_path().string(), dir_);
}

bool Journal::exists(const std::string& dir) {
  std::error_code ec;
  return fs::exists(fs::path(dir) / ".journal" / "inputs.json", ec);
}

std::string Journal::file(const std::string& name) const { return (fs::path(dir_) / name).string(); }

void Journal::save_pass1(const Pass1Record& r) {
  if (!writer_) return;
  const Allocation& a = r.allocation;
  try {
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
  } catch (const std::exception& e) {
    disable(e.what());
  }
}

void Journal::save_layer(const LayerRecord& rec) {
  flush();
  if (!writer_) return;
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

void Journal::flush() {
  if (pending_.joinable()) pending_.join();
  if (!pending_error_.empty()) disable(std::exchange(pending_error_, std::string()));
}

LayerRecord Journal::read_layer(int l, const Device* to) const {
  const std::string name = fmt::format("layer_{:05d}", l);
  const std::string st_path = file(name + ".safetensors");
  const std::unique_ptr<io::SafetensorsFile> st = open_journal_tensors(st_path);
  LayerRecord rec =
      parse_journal_layer(file(name + ".json"), read_text(file(name + ".json")), *st, l, expect_, pass1_->allocation);
  for (model::Role role : model::kLayerRoles) {
    Tensor& t = rec.weights.at(role);
    if (t.defined()) t = to ? t.to(*to) : Tensor();  // views of `st`: copied before it closes
  }
  return rec;
}

LayerRecord Journal::layer(int l, ExecContext& ctx) const {
  SP_CHECK(l < layers_done_ && pass1_, "journal: layer {} is not done", l);
  const Device d = ctx.device();
  return read_layer(l, &d);
}

void Journal::remove() {
  if (!writer_) return;
  flush();
  std::error_code ec;
  io::remove_inside_quietly(fs::path(dir_).parent_path().string(), dir_);
  if (ec) SP_LOG_WARN("{}: could not remove the resume journal: {}", dir_, ec.message());
}

}  // namespace sp::persist
