#include "core/error.h"

namespace sp {

void throw_failure(const char* file, int line, const std::string& what) {
  throw RuntimeFailure(fmt::format("{} ({}:{})", what, file, line));
}

}  // namespace sp
