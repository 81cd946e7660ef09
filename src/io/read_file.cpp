#include "io/read_file.h"

#include <fstream>
#include <sstream>

#include "core/error.h"

namespace sp::io {

std::optional<std::string> try_read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream s;
  s << in.rdbuf();
  if (in.bad()) return std::nullopt;
  return std::move(s).str();
}

std::string read_file(const std::string& path) {
  std::optional<std::string> s = try_read_file(path);
  SP_REQUIRE(s.has_value(), "{}: cannot read", path);
  return std::move(*s);
}

}  // namespace sp::io
