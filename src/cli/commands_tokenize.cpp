// `struprune-dist tokenize CONFIG.yaml`: the token streams eval and calibration would build (BOS
// included, the same code path) written once as .npy ids, so a large corpus is tokenized once and
// every later run and rank reads ids (format ids) instead.
#include <cstdio>
#include <filesystem>

#include "cli/commands_model.h"
#include "cli/data_inputs.h"
#include "core/error.h"
#include "core/log.h"
#include "io/model_config.h"
#include "tokenize/dataset.h"
#include "tokenize/npy.h"

namespace sp::cli {
namespace fs = std::filesystem;
namespace {

struct Stream {
  std::string name, source, path;
  std::vector<int32_t> ids;
};

// Calibration as its sampler sees it: the stream of a stream format; for jsonl, every document
// (BOS + its ids) in file order, concatenated.
std::vector<int32_t> calibration_ids(data::Dataset& ds) {
  if (!ds.has_documents()) return ds.stream_slice(0, ds.stream_length());
  std::vector<int32_t> ids;
  for (int64_t d = 0; d < ds.num_documents(); ++d) {
    const auto doc = ds.document_ids(d);
    ids.insert(ids.end(), doc.begin(), doc.end());
  }
  return ids;
}

void check_vocab(const Stream& s, const io::ModelConfig& mc, const std::string& model_dir) {
  for (size_t i = 0; i < s.ids.size(); ++i)
    SP_REQUIRE(s.ids[i] >= 0 && s.ids[i] < mc.vocab,
               "{}: token {} has id {}, outside the model's vocab_size {} ({}/config.json): the tokenizer does not "
               "belong to this model",
               s.source, i, s.ids[i], mc.vocab, model_dir);
}

}  // namespace

int run_tokenize(const Config& cfg, Communicator& comm) {
  if (!comm.is_root()) return 0;  // one writer; the files are the same for every rank
  const io::ModelConfig mc = io::load_model_config((fs::path(cfg.model.path) / "config.json").string());
  const auto tokenizer = load_tokenizer(cfg);
  const int32_t bos = bos_id(mc, tokenizer.get());
  // Everything is tokenized and checked before the first file is written: bad input leaves no output.
  std::vector<Stream> streams;
  for (const auto& d : cfg.eval.datasets) {
    // d.name is one plain name (checked as the config loaded): the file stays inside output.dir.
    Stream s{d.name, d.path, (fs::path(cfg.output.dir) / (d.name + ".npy")).string(), {}};
    s.ids = data::load_eval_ids(eval_spec(d, mc), tokenizer.get(), bos);
    streams.push_back(std::move(s));
  }
  if (!cfg.calibration.path.empty()) {
    data::Dataset ds(calibration_spec(cfg, mc), tokenizer.get(), bos);
    Stream s{"calibration", cfg.calibration.path, (fs::path(cfg.output.dir) / "calibration.npy").string(), {}};
    s.ids = calibration_ids(ds);
    streams.push_back(std::move(s));
  }
  for (const auto& s : streams) check_vocab(s, mc, cfg.model.path);
  // u16 halves the files whenever the vocabulary fits (as nanoGPT's .bin).
  const data::IdsDtype dtype = mc.vocab <= 65536 ? data::IdsDtype::U16 : data::IdsDtype::I32;
  std::error_code ec;
  fs::create_directories(cfg.output.dir, ec);
  SP_REQUIRE(!ec && fs::is_directory(cfg.output.dir), "output.dir {}: cannot create the folder: {}", cfg.output.dir,
             ec ? ec.message() : "not a folder");
  std::printf("%-16s %12s  %s\n", "dataset", "tokens", "file");
  for (const auto& s : streams) {
    data::write_npy_ids(s.path, s.ids, dtype);
    std::printf("%-16s %12zu  %s\n", s.name.c_str(), s.ids.size(), s.path.c_str());
    SP_LOG_INFO("tokenize {}: {} ids of {} ({}) -> {}", s.name, s.ids.size(), s.source,
                bos >= 0 ? fmt::format("BOS {}", bos) : std::string("no BOS"), s.path);
  }
  std::fflush(stdout);
  return 0;
}

}  // namespace sp::cli
