// The architecture registry, keyed by model family.
#include "model/arch.h"

#include "core/error.h"

namespace sp::model {

const Arch& arch_for(const io::ModelConfig& c) {
  switch (c.family) {
    case io::ArchFamily::Llama:
      return llama_arch();
    case io::ArchFamily::Opt:
      return opt_arch();
    case io::ArchFamily::Gemma:
      return gemma_arch();
  }
  throw_input("config.json: model_type '{}' has no engine architecture", c.model_type);
}

}  // namespace sp::model
