#include "persist/outputs.h"

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
#include "io/output_paths.h"
#include "io/read_file.h"
#include "kernels/ops.h"
#include "prune/compact.h"

namespace sp::persist {
namespace fs = std::filesystem;

namespace {

// Files of a Hugging Face folder that travel with the weights (tokenizer and generation defaults).
const char* const kSideFiles[] = {
    "tokenizer.json", "tokenizer_config.json",  "special_tokens_map.json", "tokenizer.model", "vocab.json",
    "merges.txt",     "generation_config.json", "added_tokens.json"};

void require_free(const std::string& path, bool overwrite) {
  SP_REQUIRE(overwrite || !fs::exists(path),
             "{} already exists: set output.overwrite: true (or --set output.overwrite=true) to replace it, or choose "
             "another output.dir",
             path);
}

// The leftovers of killed runs of this output.dir (process gone from this host): temporary checkpoint
// folders (.<model_dir>.tmp.<pid>), which a resumed or repeated run rewrites from the start, and a
// previous checkpoint moved aside by a swap (.<model_dir>.old.<pid>), which goes back into place
// when the run was killed before the new one took it, and is removed otherwise.
bool process_gone(const std::string& name, const std::string& prefix) {
  const long pid = std::strtol(name.c_str() + prefix.size(), nullptr, 10);
  return pid <= 0 || (::kill(pid_t(pid), 0) != 0 && errno == ESRCH);
}

void clean_leftovers(const std::string& dir, const std::string& model_dir) {
  const std::string tmp = fmt::format(".{}.tmp.", model_dir), old = io::aside_name(model_dir, 0);
  const std::string old_prefix = old.substr(0, old.size() - 1);  // ".<model_dir>.old."
  const fs::path model = fs::path(dir) / model_dir;
  std::error_code ec;
  std::vector<fs::path> found;
  for (const auto& e : fs::directory_iterator(dir, ec)) found.push_back(e.path());
  for (const fs::path& p : found) {
    const std::string name = p.filename().string();
    if (name.rfind(tmp, 0) == 0 && process_gone(name, tmp)) {
      SP_LOG_INFO("{}: removing the temporary checkpoint of an interrupted run", p.string());
      io::remove_inside_quietly(dir, p.string());
    } else if (name.rfind(old_prefix, 0) == 0 && process_gone(name, old_prefix)) {
      if (!fs::exists(fs::symlink_status(model, ec)) && std::rename(p.c_str(), model.c_str()) == 0) {
        SP_LOG_WARN("{}: restored from {}, where an interrupted run had moved it aside", model.string(), p.string());
      } else {
        SP_LOG_INFO("{}: removing the previous checkpoint an interrupted run had replaced", p.string());
        io::remove_inside_quietly(dir, p.string());
      }
    }
  }
}

}  // namespace

std::string checkpoint_identity(const std::string& model_dir) {
  Fnv1a f;
  auto add = [&f](const std::string& s) { f.add(s.c_str(), s.size() + 1); };  // with the NUL: fields stay apart
  add(io::read_file((fs::path(model_dir) / "config.json").string()));
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
  // The config checked these names before any work; the writer does not rely on it.
  for (const auto& [key, name] : {std::pair<const char*, const std::string&>{"output.model_dir", spec_.model_dir},
                                  {"output.masks", spec_.masks}}) {
    const std::string why = io::single_name_problem(name);
    SP_REQUIRE(why.empty(), "{}: '{}' {}: it must be a single name inside output.dir", key, name, why);
  }
  std::error_code ec;
  fs::create_directories(spec_.dir, ec);
  SP_REQUIRE(!ec && fs::is_directory(spec_.dir), "output.dir {}: cannot create the folder: {}", spec_.dir,
             ec ? ec.message() : "not a folder");
  require_free(masks_path(), spec_.overwrite);
  if (spec_.checkpoint != CheckpointForm::None) {
    clean_leftovers(spec_.dir, spec_.model_dir);  // first: it may put a previous checkpoint back
    require_free(model_path(), spec_.overwrite);
    tmp_dir_ = (fs::path(spec_.dir) / fmt::format(".{}.tmp.{}", spec_.model_dir, ::getpid())).string();
    io::remove_inside(spec_.dir, tmp_dir_);
    writer_ = std::make_unique<io::CheckpointStreamWriter>(tmp_dir_, spec_.max_shard_bytes);
  }
}

OutputWriter::~OutputWriter() {
  writer_.reset();  // removes its temporaries when finish() was not reached
  if (!tmp_dir_.empty()) io::remove_inside_quietly(spec_.dir, tmp_dir_);
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
  const std::vector<model::TensorSpec> specs = model::arch_for(c).layer_specs(c, w.layer);
  for (const model::StoredTensor& st : model::stored_tensors(specs)) {
    for (const model::TensorSpec* s : st.parts) {
      const Tensor& t = out.at(s->role);
      SP_CHECK(t.defined() && t.shape() == s->shape, "layer {}: {} of tensor {} is {} where the config implies {}",
               w.layer, model::role_name(s->role), s->name, t.defined() ? t.desc() : std::string("missing"),
               shape_str(s->shape));
    }
    if (st.parts.size() == 1 && !st.parts[0]->fused()) {
      writer_->add(st.name, out.at(st.parts[0]->role));
      continue;
    }
    // Written back fused (Phi-3's qkv_proj, gate_up_proj), as stock transformers loads it.
    const Tensor& first = out.at(st.parts[0]->role);
    Tensor fused = Tensor::empty(st.shape, first.dtype(), first.device());
    for (const model::TensorSpec* s : st.parts)
      fused.slice_rows(s->row0, s->row0 + s->shape[0]).copy_from(out.at(s->role));
    writer_->add(st.name, fused);
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
        if (!fs::is_regular_file(src)) continue;
        std::error_code ec;
        fs::copy_file(src, fs::path(tmp_dir_) / f, fs::copy_options::overwrite_existing, ec);
        if (ec)  // into our own temporary folder: a full disk or an I/O error, not the input
          throw IoError(fmt::format("{}: cannot copy {} into it: {} (the file needs {} bytes)", tmp_dir_, src.string(),
                                    ec.message(), fs::file_size(src, ec)));
      }
    // The folder appears under its final name complete, or not at all; a previous one is swapped
    // out (io::replace_folder), so a failed rename loses neither.
    try {
      io::replace_folder(spec_.dir, tmp_dir_, model_path());
    } catch (const IoError&) {
      if (fs::exists(tmp_dir_)) tmp_dir_.clear();  // the complete new checkpoint stays (the message names it)
      throw;
    }
    tmp_dir_.clear();
    SP_LOG_INFO("pruned checkpoint ({}): {}", spec_.checkpoint == CheckpointForm::Dense ? "masked dense" : "compact",
                model_path());
  }
  write_masks(masks_path(), r, info);
  SP_LOG_INFO("masks: {}", masks_path());
}

}  // namespace sp::persist
