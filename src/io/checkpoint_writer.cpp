// Sharded Hugging Face checkpoint writer (see checkpoint.h).
#include <fmt/format.h>

#include <cerrno>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <system_error>

#include "core/error.h"
#include "io/atomic_file.h"
#include "io/checkpoint.h"

namespace fs = std::filesystem;

namespace sp::io {
namespace {

bool is_weight_file(const std::string& name) {
  static const std::regex kShard(R"(model-\d{5}-of-\d{5}\.safetensors)");
  return name == "model.safetensors" || name == "model.safetensors.index.json" || std::regex_match(name, kShard);
}

// Removes weight files of an earlier write into the same folder that are not in `keep`, so a
// reader never mixes an old layout with the new one.
void remove_stale(const std::string& dir, const std::set<std::string>& keep) {
  for (const auto& e : fs::directory_iterator(dir)) {
    const std::string name = e.path().filename().string();
    if (e.is_regular_file() && is_weight_file(name) && !keep.count(name)) {
      std::error_code ec;
      fs::remove(e.path(), ec);
      SP_REQUIRE(!ec, "{}: cannot remove stale weight file: {}", e.path().string(), ec.message());
    }
  }
}

}  // namespace

std::vector<std::string> write_sharded_checkpoint(const std::string& model_dir,
                                                  const std::vector<std::pair<std::string, Tensor>>& tensors,
                                                  size_t max_shard_bytes) {
  SP_REQUIRE(max_shard_bytes > 0, "{}: max shard size must be positive", model_dir);
  std::error_code ec;
  fs::create_directories(model_dir, ec);
  SP_REQUIRE(!ec && fs::is_directory(model_dir), "{}: cannot create the output folder: {}", model_dir,
             ec ? ec.message() : "not a folder");

  // Greedy in the given order, so a layer's tensors stay together as the engine streams them.
  std::vector<std::vector<size_t>> shards;
  size_t current = 0, total = 0;
  for (size_t i = 0; i < tensors.size(); ++i) {
    const size_t b = tensors[i].second.nbytes();
    if (shards.empty() || (current > 0 && current + b > max_shard_bytes)) {
      shards.emplace_back();
      current = 0;
    }
    shards.back().push_back(i);
    current += b;
    total += b;
  }
  if (shards.empty()) shards.emplace_back();

  // transformers refuses safetensors files whose metadata lacks a known "format".
  const std::map<std::string, std::string> meta = {{"format", "pt"}};
  std::vector<std::string> written;
  if (shards.size() == 1) {
    const std::string path = (fs::path(model_dir) / "model.safetensors").string();
    write_safetensors(path, tensors, meta);  // readers prefer it over any old index at once
    written.push_back(path);
    remove_stale(model_dir, {"model.safetensors"});
    return written;
  }
  // An old single file would shadow the new index: remove it first. Until the new index lands, a
  // reader sees either the old complete set or no loadable layout, never a mix.
  if (fs::is_regular_file(fs::path(model_dir) / "model.safetensors"))
    remove_stale(model_dir, {"model.safetensors.index.json"});
  nlohmann::json weight_map = nlohmann::json::object();
  for (size_t s = 0; s < shards.size(); ++s) {
    const std::string fname = fmt::format("model-{:05d}-of-{:05d}.safetensors", s + 1, shards.size());
    std::vector<std::pair<std::string, Tensor>> part;
    part.reserve(shards[s].size());
    for (size_t i : shards[s]) {
      SP_REQUIRE(!weight_map.contains(tensors[i].first), "{}: duplicate tensor name '{}'", model_dir, tensors[i].first);
      part.push_back(tensors[i]);
      weight_map[tensors[i].first] = fname;
    }
    const std::string path = (fs::path(model_dir) / fname).string();
    write_safetensors(path, part, meta);
    written.push_back(path);
  }
  const nlohmann::json index = {{"metadata", {{"total_size", total}}}, {"weight_map", weight_map}};
  const std::string ipath = (fs::path(model_dir) / "model.safetensors.index.json").string();
  write_file_atomic(ipath, index.dump(2) + "\n");
  written.push_back(ipath);
  std::set<std::string> keep;
  for (const auto& w : written) keep.insert(fs::path(w).filename().string());
  remove_stale(model_dir, keep);
  return written;
}

}  // namespace sp::io
