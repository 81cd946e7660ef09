#include "dist/gpu_binding.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <map>

#include "core/error.h"

namespace sp::dist {
namespace {

bool parse_int(const char* s, int& out) {
  if (s == nullptr || *s == '\0') return false;
  char* end = nullptr;
  const long v = std::strtol(s, &end, 10);
  if (*end != '\0' || v < 0 || v > 1 << 20) return false;
  out = int(v);
  return true;
}

std::vector<std::string> split_commas(const std::string& s) {
  std::vector<std::string> out;
  size_t from = 0;
  while (from <= s.size()) {
    const size_t comma = std::min(s.find(',', from), s.size());
    std::string item = s.substr(from, comma - from);
    item.erase(std::remove_if(item.begin(), item.end(), [](unsigned char c) { return std::isspace(c); }), item.end());
    out.push_back(item);
    from = comma + 1;
  }
  return out;
}

// An entry of CUDA_VISIBLE_DEVICES the runtime accepts: an index, or a GPU / MIG UUID.
bool valid_entry(const std::string& e, int all) {
  if (e.rfind("GPU-", 0) == 0 || e.rfind("MIG-", 0) == 0) return true;
  int i = 0;
  return parse_int(e.c_str(), i) && (all < 0 || i < all);
}

}  // namespace

int gpu_for_rank(int local_rank, int visible_gpus) {
  SP_CHECK(local_rank >= 0, "gpu_for_rank: negative node-local rank {}", local_rank);
  if (visible_gpus <= 0) return -1;
  return local_rank % visible_gpus;
}

LaunchEnv read_launch_env(const std::function<const char*(const char*)>& getenv) {
  LaunchEnv e;
  for (const char* var : {"SLURM_LOCALID", "OMPI_COMM_WORLD_LOCAL_RANK", "MPI_LOCALRANKID"})
    if (parse_int(getenv(var), e.local_rank)) {
      e.local_source = var;
      break;
    }
  if (const char* v = getenv("CUDA_VISIBLE_DEVICES")) e.visible = split_commas(v);
  for (const char* var : {"SLURM_STEP_GPUS", "SLURM_JOB_GPUS"})
    if (const char* v = getenv(var); v != nullptr && *v != '\0') {
      e.slurm_gpus = v;
      break;
    }
  return e;
}

LaunchEnv read_launch_env() {
  return read_launch_env([](const char* name) { return std::getenv(name); });
}

int visible_gpus(const LaunchEnv& env, int all) {
  if (!env.visible) return all;
  int n = 0;
  for (const std::string& e : *env.visible) {
    if (!valid_entry(e, all)) break;  // the runtime stops at the first entry it cannot use
    ++n;
  }
  return n;
}

std::string physical_gpu(const LaunchEnv& env, int index) {
  if (env.visible && index >= 0 && size_t(index) < env.visible->size()) return (*env.visible)[size_t(index)];
  return std::to_string(index);
}

std::vector<int> ranks_per_device(const std::vector<std::string>& ids) {
  std::map<std::string, int> count;
  for (const auto& id : ids)
    if (!id.empty()) ++count[id];
  std::vector<int> out;
  for (const auto& id : ids) out.push_back(id.empty() ? 0 : count[id]);
  return out;
}

Placement place_ranks(Communicator& comm, const Device& mine) {
  Placement p;
  p.device = mine;
  p.ids = comm.allgather(mine.is_cuda() ? gpu_uuid(mine.index) : std::string());
  const std::vector<int> counts = ranks_per_device(p.ids);
  p.ranks_on_my_gpu = counts[size_t(comm.rank())];
  p.max_ranks_per_gpu = *std::max_element(counts.begin(), counts.end());
  return p;
}

}  // namespace sp::dist
