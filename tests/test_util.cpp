#include "test_util.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "core/device.h"

namespace sp::test {

std::string shared_dir() {
  if (const char* e = std::getenv("STRUPRUNE_SHARED_DIR"); e && *e) return e;
  return STRUPRUNE_DEFAULT_SHARED_DIR;
}

std::string shared_path(const std::string& rel) {
  const std::string p = shared_dir() + "/" + rel;
  return std::filesystem::exists(p) ? p : std::string();
}

std::string source_dir() { return STRUPRUNE_SOURCE_DIR; }

nlohmann::json read_json(const std::string& path) {
  std::ifstream f(path);
  if (!f) throw std::runtime_error("cannot open " + path);
  return nlohmann::json::parse(f);
}

int gpu_count() { return cuda_device_count(); }

}  // namespace sp::test
