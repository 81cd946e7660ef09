#pragma once
// JSON-lines documents (C4 style): one JSON object per line with a string text field.
// The file is memory-mapped and validated once; a document's text is parsed again on demand, so
// memory holds line offsets, not the corpus.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "io/byte_source.h"

namespace sp::data {

class JsonlDocs {
 public:
  // Validates every line: InputError "<file>:<line>: ..." for a line that is not JSON, not an
  // object, lacks `text_field` or whose field is not a string. Blank lines are skipped (they are
  // not documents); line numbers count from 1 and include them. No document at all is an error.
  JsonlDocs(std::shared_ptr<io::ByteSource> src, std::string text_field);
  static JsonlDocs open(const std::string& path, const std::string& text_field);

  int64_t size() const { return int64_t(spans_.size()); }
  std::string text(int64_t doc) const;   // doc in [0, size())
  int64_t line_number(int64_t doc) const { return spans_.at(size_t(doc)).line; }
  const std::string& name() const { return src_->name(); }

 private:
  struct Span {
    size_t begin, end;  // bytes of the line, without the newline
    int64_t line;
  };
  std::string parse_text(const Span& s) const;

  std::shared_ptr<io::ByteSource> src_;
  std::string field_;
  std::vector<Span> spans_;
};

}  // namespace sp::data
