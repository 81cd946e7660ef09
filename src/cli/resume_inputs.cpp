#include "cli/resume_inputs.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <thread>

#include "cli/build_id.h"
#include "core/device_model.h"
#include "core/fnv.h"

namespace sp::cli {
namespace {

// Keys that cannot change the outputs' contents.
bool ignored(const std::string& key) {
  for (const char* p : {"logging.", "bench.", "output.overwrite", "output.dir"})
    if (key.rfind(p, 0) == 0) return true;
  return false;
}

std::string flow(const YAML::Node& n) {
  YAML::Emitter e;
  e.SetSeqFormat(YAML::Flow);
  e.SetMapFormat(YAML::Flow);
  e << n;
  return e.c_str();
}

void flatten(const YAML::Node& n, const std::string& prefix, persist::Journal::Dependencies& out) {
  if (n.IsMap()) {
    for (const auto& kv : n)
      flatten(kv.second, prefix.empty() ? kv.first.Scalar() : prefix + "." + kv.first.Scalar(), out);
    return;
  }
  if (!ignored(prefix)) out[prefix] = n.IsScalar() ? n.Scalar() : flow(n);
}

std::string digest(const prune::TokenWindows& w) {
  Fnv1a f;
  f.add(w.ids.data(), w.ids.size() * sizeof(w.ids[0]));
  return fmt::format("{} windows x {} tokens, fnv1a {:016x}", w.windows, w.seqlen, f.h);
}

}  // namespace

persist::Journal::Dependencies resume_inputs(const Config& cfg, const std::string& model_identity,
                                             const prune::RunSetup& in, Device device) {
  persist::Journal::Dependencies m;
  flatten(YAML::Load(cfg.effective), "", m);
  m["checkpoint identity"] = model_identity;
  // What the config keys leave open but the bits depend on: the build, the hardware (the CPU's
  // sums depend on the thread count: runtime.threads, 0 = every core as ops::set_cpu_threads
  // resolves it) and the calibration batch after the memory plan. The number of ranks is left
  // out: the results are bit-identical for any (docs/algorithm.md, Determinism).
  m["version"] = build_id();
  m["device"] = device.is_cpu()
                    ? fmt::format("cpu, {} threads", cfg.runtime.threads > 0
                                                         ? int64_t(cfg.runtime.threads)
                                                         : int64_t(std::max(1u, std::thread::hardware_concurrency())))
                    : fmt::format("cuda, {}", device_model(device));
  m["calibration batch (effective)"] = std::to_string(in.batch);
  m["calibration tokens"] = digest(in.calibration);
  for (const auto& e : in.eval) m["eval tokens " + e.name] = digest(e);
  return m;
}

}  // namespace sp::cli
