#include "persist/journal_contents.h"

#include <fmt/ranges.h>

#include <filesystem>
#include <utility>
#include <vector>

#include "core/error.h"
#include "core/fnv.h"
#include "core/log.h"
#include "io/read_file.h"

namespace sp::persist {
namespace fs = std::filesystem;

namespace {

std::string file(const std::string& dir, const std::string& name) { return (fs::path(dir) / name).string(); }

// The whole file, or "damaged" naming it (a resume only reads files the journal says are there).
std::string read_text(const std::string& path) {
  std::optional<std::string> s = io::try_read_file(path);
  if (!s) journal_damaged(path, "cannot read it");
  return std::move(*s);
}

uint64_t digest(const std::map<std::string, std::string>& inputs) {
  Fnv1a f;
  for (const auto& [k, v] : inputs) {
    f.add(k.c_str(), k.size() + 1);
    f.add(v.c_str(), v.size() + 1);
  }
  return f.h;
}

// Every key whose value differs between the journal's inputs and this run's, in words.
std::vector<std::string> changed_inputs(const std::map<std::string, std::string>& old,
                                        const std::map<std::string, std::string>& now) {
  std::vector<std::string> changed;
  for (const auto& [k, v] : now) {
    auto it = old.find(k);
    if (it == old.end())
      changed.push_back(fmt::format("{} is new ({})", k, v));
    else if (it->second != v)
      changed.push_back(fmt::format("{} was {}, now {}", k, it->second, v));
  }
  for (const auto& [k, v] : old)
    if (!now.count(k)) changed.push_back(fmt::format("{} was {}, now absent", k, v));
  return changed;
}

}  // namespace

JournalContents::JournalContents(std::string dir, const std::map<std::string, std::string>& inputs, bool resume,
                                 JournalExpect expect)
    : dir_(std::move(dir)), inputs_digest_(digest(inputs)), expect_(std::move(expect)) {
  const std::string inputs_path = file(dir_, "inputs.json");
  if (!resume) return;
  if (!fs::exists(inputs_path)) {
    SP_LOG_INFO("--resume: no journal in {}; starting from the beginning", dir_);
    return;
  }
  found_ = true;
  const JournalHeader h = parse_journal_inputs(inputs_path, read_text(inputs_path));
  if (h.format != 1 && h.format != kJournalFormat)
    journal_damaged(inputs_path, fmt::format("format {} is not one this version reads (1, {})", h.format, kJournalFormat));
  const std::vector<std::string> changed = changed_inputs(h.inputs, inputs);
  SP_REQUIRE(changed.empty(),
             "--resume: the run journalled in {} had other inputs: {}. Resume with the same config, checkpoint, "
             "data, version and device, or start over without --resume",
             dir_, fmt::join(changed, "; "));
  // Everything a replay will read is validated now, before any output is touched.
  if (const std::string p1 = file(dir_, "pass1.json"); fs::exists(p1)) {
    pass1_ = parse_journal_pass1(p1, read_text(p1), expect_);
    while (layers_done_ < expect_.model.n_layers && fs::exists(file(dir_, fmt::format("layer_{:05d}.json", layers_done_))))
      layer(layers_done_++, nullptr);
  }
  SP_LOG_INFO("--resume: {}: {}, {} layer(s) of pass 2 done", dir_,
              pass1_ ? "pass 1 and the allocation done" : "pass 1 not done", layers_done_);
}

LayerRecord JournalContents::layer(int l, const Device* to) const {
  SP_CHECK(pass1_ && l < layers_done_, "journal: layer {} is not done", l);
  const std::string name = fmt::format("layer_{:05d}", l);
  const std::unique_ptr<io::SafetensorsFile> st = open_journal_tensors(file(dir_, name + ".safetensors"));
  const std::string record = file(dir_, name + ".json");
  LayerRecord rec = parse_journal_layer(record, read_text(record), *st, l, expect_, pass1_->allocation);
  for (model::Role role : model::kLayerRoles) {
    Tensor& t = rec.weights.at(role);
    if (t.defined()) t = to ? t.to(*to) : Tensor();  // views of `st`: copied before it closes
  }
  return rec;
}

std::string JournalContents::summary() const {
  return fmt::format("pass 1 {}, {} layer(s) done, inputs fnv1a {:016x}", pass1_ ? "done" : "not done", layers_done_,
                     inputs_digest_);
}

}  // namespace sp::persist
