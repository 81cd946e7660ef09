#pragma once
// Where layer weights come from. Two sources behind one interface:
//  * checkpoint: a Hugging Face folder (io::Checkpoint), read lazily, one tensor at a time, so
//    one decoder layer can be brought in without touching the rest;
//  * synthetic: a real config.json's shapes with weights generated on the fly from a seed
//    (counter-based hash -> normal(0, stddev); norm weights 1, biases 0), so layer i can be
//    generated alone. For speed and scaling work only: labelled "synthetic" wherever described.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "io/model_config.h"
#include "model/arch.h"

namespace sp::model {

class WeightSource {
 public:
  virtual ~WeightSource() = default;
  virtual const io::ModelConfig& config() const = 0;
  // One line for logs and reports: "checkpoint /path" or "SYNTHETIC weights (seed 7) ...".
  virtual std::string describe() const = 0;
  virtual bool synthetic() const = 0;
  // Before any load: every spec must be servable with its exact shape, and (checkpoint) every
  // tensor present must be in `specs` or end with one of `ignored_suffixes`. Errors name the
  // tensor, the file, expected and actual shapes, and list every unexpected tensor.
  virtual void validate(const std::vector<TensorSpec>& specs, const std::vector<std::string>& ignored_suffixes) = 0;
  // One tensor converted to `dtype` on `device`.
  virtual Tensor load(const TensorSpec& spec, DType dtype, Device device) = 0;
  // Whether load_into works (a checkpoint: the host reads and converts); synthetic weights are
  // generated on the device, where load() makes them.
  virtual bool loads_to_host() const { return false; }
  // The host half of load(): the tensor converted to `dtype` into `dst`, host memory of the spec's
  // size (model/layer_prefetch.h stages layers this way on a background thread).
  virtual void load_into(const TensorSpec& spec, DType dtype, void* dst);
};

std::unique_ptr<WeightSource> open_checkpoint_source(const std::string& model_dir);
std::unique_ptr<WeightSource> make_synthetic_source(io::ModelConfig config, uint64_t seed, float stddev = 0.02f,
                                                    std::string config_label = "config");
// Synthetic weights with the shapes of a real config.json (e.g. LLaMA-2-7B).
std::unique_ptr<WeightSource> open_synthetic_source(const std::string& config_json, uint64_t seed,
                                                    float stddev = 0.02f);

}  // namespace sp::model
