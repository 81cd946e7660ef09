#pragma once
// Whole small files (JSON, vocabularies, config.json) read into memory, binary-exact.
#include <optional>
#include <string>

namespace sp::io {

// The file's bytes, or nullopt when it cannot be opened or read (callers that word their own error).
std::optional<std::string> try_read_file(const std::string& path);
// The file's bytes; InputError "<path>: cannot read" otherwise.
std::string read_file(const std::string& path);

}  // namespace sp::io
