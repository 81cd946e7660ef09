#include "prune/outputs.h"

#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/error.h"
#include "core/fnv.h"
#include "core/log.h"
#include "io/checkpoint.h"
#include "io/hdf5_file.h"
#include "io/hf_remote_code.h"
#include "kernels/ops.h"
#include "prune/compact.h"

namespace sp::prune {
namespace fs = std::filesystem;

namespace {

// Files of a Hugging Face folder that travel with the weights (tokenizer and generation defaults).
const char* const kSideFiles[] = {
    "tokenizer.json", "tokenizer_config.json",  "special_tokens_map.json", "tokenizer.model", "vocab.json",
    "merges.txt",     "generation_config.json", "added_tokens.json"};

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void require_free(const std::string& path, bool overwrite) {
  SP_REQUIRE(overwrite || !fs::exists(path),
             "{} already exists: set output.overwrite: true (or --set output.overwrite=true) to replace it, or choose "
             "another output.dir",
             path);
}

// The temporary checkpoint folders of killed runs (.<model_dir>.tmp.<pid> whose process is gone
// from this host): a resumed or repeated run rewrites the checkpoint from the start.
void remove_stale_temporaries(const std::string& dir, const std::string& model_dir) {
  const std::string prefix = fmt::format(".{}.tmp.", model_dir);
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    const std::string name = e.path().filename().string();
    if (name.rfind(prefix, 0) != 0) continue;
    const long pid = std::strtol(name.c_str() + prefix.size(), nullptr, 10);
    if (pid > 0 && (::kill(pid_t(pid), 0) == 0 || errno != ESRCH)) continue;
    SP_LOG_INFO("{}: removing the temporary checkpoint of an interrupted run", e.path().string());
    fs::remove_all(e.path(), ec);
  }
}

}  // namespace

std::string checkpoint_identity(const std::string& model_dir) {
  Fnv1a f;
  auto add = [&f](const std::string& s) { f.add(s.c_str(), s.size() + 1); };  // with the NUL: fields stay apart
  add(read_file((fs::path(model_dir) / "config.json").string()));
  auto ckpt = io::Checkpoint::open(model_dir);
  for (const std::string& n : ckpt->names()) {
    const io::TensorEntry& e = ckpt->info(n);
    add(n);
    add(dtype_name(e.dtype));
    add(shape_str(e.shape));
    const uint64_t bytes = e.end - e.begin;
    f.add(&bytes, sizeof bytes);
  }
  return fmt::format("{:016x}", f.h);
}

OutputWriter::OutputWriter(OutputSpec spec, ExecContext& ctx, const io::ModelConfig& original, AttentionUnit unit)
    : spec_(std::move(spec)), ctx_(ctx), original_(original), unit_(unit) {
  std::error_code ec;
  fs::create_directories(spec_.dir, ec);
  SP_REQUIRE(!ec && fs::is_directory(spec_.dir), "output.dir {}: cannot create the folder: {}", spec_.dir,
             ec ? ec.message() : "not a folder");
  require_free(masks_path(), spec_.overwrite);
  if (spec_.checkpoint != CheckpointForm::None) {
    require_free(model_path(), spec_.overwrite);
    remove_stale_temporaries(spec_.dir, spec_.model_dir);
    tmp_dir_ = (fs::path(spec_.dir) / fmt::format(".{}.tmp.{}", spec_.model_dir, ::getpid())).string();
    fs::remove_all(tmp_dir_, ec);
    writer_ = std::make_unique<io::CheckpointStreamWriter>(tmp_dir_, spec_.max_shard_bytes);
  }
}

OutputWriter::~OutputWriter() {
  writer_.reset();  // removes its temporaries when finish() was not reached
  if (!tmp_dir_.empty()) {
    std::error_code ec;
    fs::remove_all(tmp_dir_, ec);
  }
}

std::string OutputWriter::model_path() const { return (fs::path(spec_.dir) / spec_.model_dir).string(); }
std::string OutputWriter::masks_path() const { return (fs::path(spec_.dir) / spec_.masks).string(); }

LayerSink OutputWriter::sink() {
  return [this](const LayerResult& r, const model::LayerWeights& w) { add_layer(r, w); };
}

void OutputWriter::add_layer(const LayerResult& r, const model::LayerWeights& w) {
  if (!writer_) return;
  model::LayerWeights out = w;
  io::ModelConfig c = original_;
  if (spec_.checkpoint == CheckpointForm::Dense) {
    std::vector<int32_t> ka, km;
    for (size_t u = 0; u < r.attention_keep.size(); ++u)
      if (r.attention_keep[u]) ka.push_back(int32_t(u));
    for (size_t u = 0; u < r.mlp_keep.size(); ++u)
      if (r.mlp_keep[u]) km.push_back(int32_t(u));
    out = expand_to_dense(ctx_, original_, unit_, w, ka, km);
  } else {
    c.layers[size_t(w.layer)] = w.shape;
  }
  // Bias flags follow the tensors (a compensated bias may have been added).
  c.qkv_bias = out.q_b.defined() || (c.qkv_bias && !out.q_w.defined());
  c.o_bias = out.o_b.defined();
  c.mlp_bias = out.down_b.defined();
  for (const model::TensorSpec& s : model::arch_for(c).layer_specs(c, w.layer)) {
    const Tensor& t = out.at(s.role);
    SP_CHECK(t.defined() && t.shape() == s.shape, "layer {}: tensor {} is {} where the config implies {}", w.layer,
             s.name, t.defined() ? t.desc() : std::string("missing"), shape_str(s.shape));
    writer_->add(s.name, t);
  }
}

void OutputWriter::finish(const PruneResult& r, const model::GlobalWeights& globals, DType dtype, const RunInfo& info) {
  if (writer_) {
    model::GlobalWeights g = globals;
    io::ModelConfig c = spec_.checkpoint == CheckpointForm::Dense ? original_ : r.pruned_config;
    if (spec_.checkpoint == CheckpointForm::Dense) {
      c.qkv_bias = r.pruned_config.qkv_bias;
      c.o_bias = r.pruned_config.o_bias;
      c.mlp_bias = r.pruned_config.mlp_bias;
      c.raw = r.pruned_config.raw;
    }
    for (const model::TensorSpec& s : model::arch_for(c).global_specs(c))
      writer_->add(s.name, ops::convert(ctx_, g.at(s.role), dtype));
    writer_->finish();
    writer_.reset();
    io::save_model_config(c, (fs::path(tmp_dir_) / "config.json").string());
    io::write_hf_remote_code(c, tmp_dir_);  // per-layer shapes: transformers loads them with trust_remote_code
    if (!spec_.tokenizer_dir.empty())
      for (const char* f : kSideFiles) {
        const fs::path src = fs::path(spec_.tokenizer_dir) / f;
        if (fs::is_regular_file(src)) fs::copy_file(src, fs::path(tmp_dir_) / f, fs::copy_options::overwrite_existing);
      }
    // The folder appears under its final name complete, or not at all.
    std::error_code ec;
    if (fs::exists(model_path())) fs::remove_all(model_path(), ec);
    fs::rename(tmp_dir_, model_path(), ec);
    SP_REQUIRE(!ec, "{}: cannot move the pruned checkpoint into place: {}", model_path(), ec.message());
    tmp_dir_.clear();
    SP_LOG_INFO("pruned checkpoint ({}): {}", spec_.checkpoint == CheckpointForm::Dense ? "masked dense" : "compact",
                model_path());
  }
  write_masks(masks_path(), r, info);
  SP_LOG_INFO("masks: {}", masks_path());
}

}  // namespace sp::prune
