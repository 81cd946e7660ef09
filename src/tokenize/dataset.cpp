#include "tokenize/dataset.h"

#include <algorithm>
#include <filesystem>

#include <fmt/ranges.h>

#include "core/error.h"
#include "tokenize/dataset_text.h"

namespace sp::data {
namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

void cut(std::vector<int32_t>& ids, int64_t max_tokens) {
  if (max_tokens >= 0 && int64_t(ids.size()) > max_tokens) ids.resize(size_t(max_tokens));
}

}  // namespace

const char* format_name(Format f) { return enum_name<Format>(kFormatNames, f); }

Format parse_format(const std::string& name) {
  if (std::optional<Format> f = enum_from<Format>(kFormatNames, name)) return *f;
  throw_input("data format '{}' is not one of {}", name, fmt::join(enum_names<Format>(kFormatNames), ", "));
}

Format resolve_format(const DataSpec& spec) {
  if (spec.format != Format::Auto) return spec.format;
  const std::string file = std::filesystem::path(spec.path).filename().string();
  if (ends_with(file, ".jsonl") || ends_with(file, ".json")) return Format::Jsonl;
  if (file.rfind("wiki", 0) == 0 && ends_with(file, ".raw")) return Format::Wikitext;
  if (ends_with(file, ".npy") || ends_with(file, ".bin")) return Format::Ids;
  return Format::Text;
}

Dataset::Dataset(DataSpec spec, const tok::Tokenizer* tokenizer, int32_t bos)
    : spec_(std::move(spec)), format_(resolve_format(spec_)), tokenizer_(tokenizer), bos_(bos) {
  const std::string& path = spec_.path;
  SP_REQUIRE(std::filesystem::is_regular_file(path), "data file not found: {}", path);
  SP_REQUIRE(format_ == Format::Ids || tokenizer_ != nullptr, "{}: {} data needs a tokenizer", path,
             format_name(format_));
  switch (format_) {
    case Format::Jsonl: docs_.emplace(JsonlDocs::open(path, spec_.text_field)); break;
    case Format::Ids: ids_.emplace(IdsFile::open(path, spec_.ids_dtype)); break;
    case Format::Text:
    case Format::Wikitext:
      SP_REQUIRE(std::filesystem::file_size(path) > 0, "{}: the data file is empty", path);
      break;
    case Format::Auto: SP_CHECK(false, "format not resolved"); break;
  }
}

std::vector<int32_t> Dataset::encode_with_bos(const std::string& text, bool with_bos) {
  ++encode_calls_;
  std::vector<int32_t> ids = tokenizer_->encode(text);
  if (with_bos && bos_ >= 0) ids.insert(ids.begin(), bos_);
  return ids;
}

const std::vector<int32_t>& Dataset::stream() {
  if (!stream_) {
    const std::string text =
        format_ == Format::Wikitext ? wikitext_eval_string(spec_.path) : read_text_file(spec_.path);
    stream_ = encode_with_bos(text, true);
    SP_REQUIRE(!stream_->empty(), "{}: the data file gives no tokens", spec_.path);
  }
  return *stream_;
}

int64_t Dataset::stream_length() {
  SP_CHECK(!has_documents(), "{} is a document file, not a stream", spec_.path);
  if (ids_) return ids_->size();
  return int64_t(stream().size());
}

std::vector<int32_t> Dataset::stream_slice(int64_t offset, int64_t n) {
  SP_CHECK(!has_documents(), "{} is a document file, not a stream", spec_.path);
  if (ids_) return ids_->read(offset, n, spec_.vocab_size);
  const std::vector<int32_t>& s = stream();
  SP_CHECK(offset >= 0 && n >= 0 && offset + n <= int64_t(s.size()), "slice [{}, {}) outside the stream of {}",
           offset, offset + n, s.size());
  return {s.begin() + offset, s.begin() + offset + n};
}

int64_t Dataset::num_documents() const {
  SP_CHECK(docs_.has_value(), "{} is not a document file", spec_.path);
  return docs_->size();
}

std::vector<int32_t> Dataset::document_ids(int64_t doc) {
  SP_CHECK(docs_.has_value(), "{} is not a document file", spec_.path);
  std::vector<int32_t> ids = encode_with_bos(docs_->text(doc), true);
  doc_length_[doc] = int64_t(ids.size());
  return ids;
}

int64_t Dataset::document_length(int64_t doc) {
  if (auto it = doc_length_.find(doc); it != doc_length_.end()) return it->second;
  return int64_t(document_ids(doc).size());
}

std::vector<int32_t> Dataset::eval_ids(const EvalOptions& opts) {
  std::vector<int32_t> ids;
  if (format_ == Format::Ids) {
    const int64_t n = opts.max_tokens >= 0 ? std::min(opts.max_tokens, ids_->size()) : ids_->size();
    return ids_->read(0, n, spec_.vocab_size);
  }
  if (format_ == Format::Jsonl) {
    const int64_t n = opts.max_docs >= 0 ? std::min(opts.max_docs, docs_->size()) : docs_->size();
    SP_REQUIRE(n > 0, "{}: max_docs = {} selects no document", spec_.path, opts.max_docs);
    std::string joined;
    for (int64_t d = 0; d < n; ++d) {
      if (d) joined.push_back(' ');
      joined += docs_->text(d);
    }
    ids = encode_with_bos(joined, false);
  } else {
    ids = stream();
  }
  cut(ids, opts.max_tokens);
  SP_REQUIRE(!ids.empty(), "{}: the evaluation stream is empty", spec_.path);
  return ids;
}

std::vector<int32_t> load_eval_ids(const DataSpec& spec, const tok::Tokenizer* tokenizer, int32_t bos,
                                   const EvalOptions& opts) {
  Dataset data(spec, tokenizer, bos);
  return data.eval_ids(opts);
}

}  // namespace sp::data
