#pragma once
// PCRE2 (UTF + UCP, JIT-compiled) for the pre-tokenizer split patterns. PCRE2 comes with the
// distribution (and the GPU image); with UCP, \s \d \w and \p{..} follow Unicode properties as
// the Oniguruma engine inside Hugging Face tokenizers does for these patterns (\s is rewritten
// to add U+0085, which Oniguruma counts as space and PCRE2 does not).
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sp::tok {

class UnicodeRegex {
 public:
  // Throws InputError naming `where` (file / field) if the pattern does not compile.
  UnicodeRegex(const std::string& pattern, const std::string& where);
  ~UnicodeRegex();
  UnicodeRegex(const UnicodeRegex&) = delete;
  UnicodeRegex& operator=(const UnicodeRegex&) = delete;

  // Non-overlapping matches [begin, end) in `text`, left to right (empty matches skipped).
  std::vector<std::pair<size_t, size_t>> find_all(std::string_view text) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace sp::tok
