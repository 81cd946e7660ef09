#include "tokenize/dataset_jsonl.h"

#include <nlohmann/json.hpp>

#include "core/error.h"

namespace sp::data {

JsonlDocs::JsonlDocs(std::shared_ptr<io::ByteSource> src, std::string text_field)
    : src_(std::move(src)), field_(std::move(text_field)) {
  const char* p = reinterpret_cast<const char*>(src_->data());
  const size_t n = src_->size();
  int64_t line = 0;
  for (size_t begin = 0; begin < n;) {
    size_t end = begin;
    while (end < n && p[end] != '\n') ++end;
    ++line;
    size_t stop = end;
    if (stop > begin && p[stop - 1] == '\r') --stop;  // Windows line ends
    bool blank = true;
    for (size_t i = begin; i < stop && blank; ++i) blank = p[i] == ' ' || p[i] == '\t';
    if (!blank) {
      const Span s{begin, stop, line};
      parse_text(s);  // validates now, so that errors surface before any sampling
      spans_.push_back(s);
    }
    begin = end + 1;
  }
  SP_REQUIRE(!spans_.empty(), "{}: no JSON documents (the file is empty)", src_->name());
}

JsonlDocs JsonlDocs::open(const std::string& path, const std::string& text_field) {
  return JsonlDocs(io::map_file(path), text_field);
}

std::string JsonlDocs::text(int64_t doc) const {
  SP_CHECK(doc >= 0 && doc < size(), "document {} out of range [0, {})", doc, size());
  return parse_text(spans_[size_t(doc)]);
}

std::string JsonlDocs::parse_text(const Span& s) const {
  const char* p = reinterpret_cast<const char*>(src_->data());
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(p + s.begin, p + s.end);
  } catch (const nlohmann::json::exception& e) {  // parse_error, or out_of_range for a number overflow
    throw_input("{}:{}: not valid JSON: {}", src_->name(), s.line, e.what());
  }
  SP_REQUIRE(j.is_object(), "{}:{}: expected a JSON object with a \"{}\" field, got a {}", src_->name(), s.line,
             field_, j.type_name());
  const auto it = j.find(field_);
  SP_REQUIRE(it != j.end(), "{}:{}: the object has no \"{}\" field", src_->name(), s.line, field_);
  SP_REQUIRE(it->is_string(), "{}:{}: field \"{}\" is a {}, expected a string", src_->name(), s.line, field_,
             it->type_name());
  return it->get<std::string>();
}

}  // namespace sp::data
