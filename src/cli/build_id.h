#pragma once
// The tool's version with the commit it was built from: "0.4.0 (git 1a2b3c4d5e6f-dirty)".
#include <string>

namespace sp::cli {

std::string build_id();

}  // namespace sp::cli
