#include "cli/build_id.h"

#include <fmt/format.h>

#include "struprune/build_id.h"
#include "struprune/version.h"

namespace sp::cli {

std::string build_id() { return fmt::format("{} (git {})", STRUPRUNE_VERSION, STRUPRUNE_GIT_DESCRIBE); }

}  // namespace sp::cli
