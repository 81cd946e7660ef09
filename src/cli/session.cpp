#include "cli/session.h"

#include <filesystem>

#include "cli/data_inputs.h"
#include "core/device.h"
#include "core/error.h"
#include "core/log.h"
#include "dist/gpu_binding.h"
#include "kernels/ops_linalg.h"
#include "model/weight_source.h"

namespace sp::cli {
namespace fs = std::filesystem;

bool runs_on_cpu(const Config& cfg) {
  return cfg.runtime.device == DeviceType::CPU ||
         (!cfg.runtime.device && dist::gpu_for_rank(0, cuda_device_count()) < 0);
}

Device pick_device(const Config& cfg, int local_rank) {
  if (cfg.runtime.device == DeviceType::CPU) return Device::cpu();
  // The one binding rule (dist/gpu_binding.h), as the NCCL communicator and the plan apply it.
  const int gpu = dist::gpu_for_rank(local_rank, cuda_device_count());
  SP_REQUIRE(gpu >= 0 || cfg.runtime.device != DeviceType::CUDA,
             "runtime.device = cuda, but no CUDA GPU is visible{}",
             built_with_cuda() ? "" : " (this binary was built without CUDA)");
  return gpu < 0 ? Device::cpu() : Device::cuda(gpu);
}

std::unique_ptr<model::WeightSource> open_source(const Config& cfg) {
  if (cfg.model.synthetic)
    return model::open_synthetic_source((fs::path(cfg.model.path) / "config.json").string(),
                                        uint64_t(cfg.model.synthetic_seed));
  return model::open_checkpoint_source(cfg.model.path);
}

Loaded load(const Config& cfg, int local_rank) {
  ops::set_cpu_threads(int(cfg.runtime.threads));
  Loaded l;
  const Device dev = pick_device(cfg, local_rank);
  l.ctx = std::make_unique<ExecContext>(dev);
  l.model = std::make_unique<model::Model>(open_source(cfg), *l.ctx, cfg.runtime.precision);
  l.tokenizer = load_tokenizer(cfg);  // null when the data is all ids and there is none
  l.bos = bos_id(l.model->config(), l.tokenizer.get());
  // A tokenizer with more ids than the embedding has rows would index past it (smaller is common:
  // padding rows); the BOS put in front must be a row too.
  const int model_vocab = l.model->config().vocab;
  if (l.tokenizer)
    SP_REQUIRE(l.tokenizer->vocab_size() <= model_vocab,
               "{}: the tokenizer has {} ids, more than the model's vocab_size {} ({}/config.json)",
               cfg.model.tokenizer.empty() ? cfg.model.path : cfg.model.tokenizer, l.tokenizer->vocab_size(),
               model_vocab, cfg.model.path);
  SP_REQUIRE(l.bos < model_vocab, "{}/config.json: field 'bos_token_id' ({}) is not below 'vocab_size' ({})",
             cfg.model.path, l.bos, model_vocab);
  SP_LOG_INFO("loaded {} on {} ({} precision)", l.model->source().describe(), dev.str(),
              to_string(cfg.runtime.precision));
  return l;
}

}  // namespace sp::cli
