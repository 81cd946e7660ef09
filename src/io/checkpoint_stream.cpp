// Streaming Hugging Face checkpoint writer (see checkpoint_stream.h).
#include "io/checkpoint_stream.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <system_error>
#include <utility>

#include "core/error.h"
#include "io/atomic_file.h"
#include "io/output_paths.h"
#include "io/safetensors.h"
#include "io/write_error.h"

namespace fs = std::filesystem;

namespace sp::io {
namespace {

constexpr const char* kSingle = "model.safetensors";
constexpr const char* kIndex = "model.safetensors.index.json";

bool is_weight_file(const std::string& name) {
  static const std::regex kShard(R"(model-\d{5}-of-\d{5}\.safetensors)");
  return name == kSingle || name == kIndex || std::regex_match(name, kShard);
}

// A shard temporary of this writer, or one left behind by a writer that was killed.
bool is_partial_shard(const std::string& name) {
  static const std::regex kPartial(R"(\.shard-\d{5}\.safetensors\.partial)");
  return std::regex_match(name, kPartial);
}

// Every removal of the writer is of a file inside its own folder (io/output_paths.h).
void remove_file(const std::string& dir, const fs::path& p) { remove_inside(dir, p.string()); }

// Removes weight files of an earlier write into the same folder that are not in `keep`, and
// partial shards of a killed writer, so a reader never mixes an old layout with the new one.
void remove_stale(const std::string& dir, const std::set<std::string>& keep) {
  for (const auto& e : fs::directory_iterator(dir)) {
    const std::string name = e.path().filename().string();
    if (e.is_regular_file() && (is_weight_file(name) || is_partial_shard(name)) && !keep.count(name))
      remove_file(dir, e.path());
  }
}

void rename_into_place(const std::string& from, const std::string& to) {
  if (std::rename(from.c_str(), to.c_str()) != 0) throw_rename_error(errno, to, from);
}

}  // namespace

CheckpointStreamWriter::CheckpointStreamWriter(std::string model_dir, size_t max_shard_bytes)
    : dir_(std::move(model_dir)), max_shard_bytes_(max_shard_bytes) {
  SP_REQUIRE(max_shard_bytes_ > 0, "{}: max shard size must be positive", dir_);
  std::error_code ec;
  created_dir_ = fs::create_directories(dir_, ec);
  SP_REQUIRE(!ec && fs::is_directory(dir_), "{}: cannot create the output folder: {}", dir_,
             ec ? ec.message() : "not a folder");
}

CheckpointStreamWriter::~CheckpointStreamWriter() {
  if (in_flight_.joinable()) in_flight_.join();  // its error, if any, goes with the run's own
  if (finished_) return;
  remove_temporaries();
  if (created_dir_) {
    std::error_code ec;
    fs::remove(dir_, ec);  // the folder this writer created, and only while empty (rmdir)
  }
}

void CheckpointStreamWriter::remove_temporaries() noexcept {
  for (const auto& s : shards_)
    if (!s.tmp.empty()) remove_inside_quietly(dir_, s.tmp);
}

void CheckpointStreamWriter::add(const std::string& name, const Tensor& t) {
  SP_CHECK(!finished_, "{}: CheckpointStreamWriter::add('{}') after finish()", dir_, name);
  SP_REQUIRE(!name.empty() && name != "__metadata__", "{}: tensor name '{}' is empty or reserved", dir_, name);
  SP_REQUIRE(t.defined(), "{}: tensor '{}' is undefined", dir_, name);
  SP_REQUIRE(names_.insert(name).second, "{}: duplicate tensor name '{}'", dir_, name);
  const size_t bytes = t.nbytes();
  if (pending_bytes_ > 0 && pending_bytes_ + bytes > max_shard_bytes_) flush();
  pending_.emplace_back(name, t.to(Device::cpu()));  // a copy: the caller may reuse t's memory
  pending_bytes_ += bytes;
  total_bytes_ += bytes;
}

void CheckpointStreamWriter::wait() {
  if (in_flight_.joinable()) in_flight_.join();
  if (write_error_) std::rethrow_exception(std::exchange(write_error_, nullptr));
}

void CheckpointStreamWriter::flush() {
  wait();  // one shard in flight: host memory holds at most this one and the next
  Shard s;
  s.tmp = (fs::path(dir_) / fmt::format(".shard-{:05d}.safetensors.partial", shards_.size() + 1)).string();
  for (const auto& p : pending_) s.names.push_back(p.first);
  shards_.push_back(std::move(s));  // before writing, so the destructor removes whatever is there
  in_flight_ = std::thread([this, path = shards_.back().tmp, tensors = std::exchange(pending_, {})] {
    try {
      // transformers refuses safetensors files whose metadata lacks a known "format".
      write_safetensors(path, tensors, {{"format", "pt"}});
    } catch (...) {
      write_error_ = std::current_exception();
    }
  });
  pending_bytes_ = 0;
}

std::vector<std::string> CheckpointStreamWriter::finish() {
  SP_CHECK(!finished_, "{}: CheckpointStreamWriter::finish() called twice", dir_);
  if (!pending_.empty() || shards_.empty()) flush();
  wait();
  const fs::path dir(dir_);
  std::vector<std::string> written;

  if (shards_.size() == 1) {
    // Readers prefer model.safetensors over any old index at once.
    const std::string path = (dir / kSingle).string();
    rename_into_place(shards_[0].tmp, path);
    shards_[0].tmp.clear();
    written.push_back(path);
    fsync_dir(dir_);
    remove_stale(dir_, {kSingle});
    finished_ = true;
    return written;
  }

  // An old single file would shadow the new index, and an old index may name a shard about to be
  // replaced: both go first. Until the new index lands, no loadable layout is there.
  for (const char* old : {kSingle, kIndex})
    if (fs::is_regular_file(dir / old)) remove_file(dir_, dir / old);
  nlohmann::json weight_map = nlohmann::json::object();
  std::set<std::string> keep = {kIndex};
  for (size_t s = 0; s < shards_.size(); ++s) {
    const std::string fname = fmt::format("model-{:05d}-of-{:05d}.safetensors", s + 1, shards_.size());
    const std::string path = (dir / fname).string();
    rename_into_place(shards_[s].tmp, path);
    shards_[s].tmp.clear();
    for (const auto& n : shards_[s].names) weight_map[n] = fname;
    written.push_back(path);
    keep.insert(fname);
  }
  fsync_dir(dir_);
  const nlohmann::json index = {{"metadata", {{"total_size", total_bytes_}}}, {"weight_map", weight_map}};
  const std::string ipath = (dir / kIndex).string();
  write_file_atomic(ipath, index.dump(2) + "\n");
  written.push_back(ipath);
  remove_stale(dir_, keep);
  finished_ = true;
  return written;
}

}  // namespace sp::io
