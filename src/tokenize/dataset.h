#pragma once
// Calibration / evaluation data (docs/data.md): what a data file is, and the token streams and
// documents the published protocols (SparseGPT / Wanda, make_reference.py) build from it.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/enum_names.h"
#include "tokenize/dataset_ids.h"
#include "tokenize/dataset_jsonl.h"
#include "tokenize/npy.h"
#include "tokenize/tokenizer.h"

namespace sp::data {

enum class Format { Auto, Text, Jsonl, Wikitext, Ids };
inline constexpr EnumName<Format> kFormatNames[] = {{Format::Auto, "auto"},
                                                    {Format::Text, "text"},
                                                    {Format::Jsonl, "jsonl"},
                                                    {Format::Wikitext, "wikitext"},
                                                    {Format::Ids, "ids"}};
const char* format_name(Format f);              // its kFormatNames spelling
Format parse_format(const std::string& name);   // InputError naming the value otherwise

struct DataSpec {
  std::string path;
  Format format = Format::Auto;
  std::string text_field = "text";     // jsonl: the field holding the document text
  IdsDtype ids_dtype = IdsDtype::U16;  // .bin: element type (a .npy carries its own)
  int64_t vocab_size = 0;              // ids: every id must be below it (the model's vocab_size); 0 = unchecked
};

// Format::Auto resolved from the file name: .jsonl/.json -> jsonl, wiki*.raw -> wikitext,
// .npy/.bin -> ids, anything else -> text. An explicit format is returned unchanged.
Format resolve_format(const DataSpec& spec);

// The evaluation stream's options (jsonl only: how many documents; all formats: a token cut).
struct EvalOptions {
  int64_t max_docs = -1;    // jsonl: join the first N documents; -1 = all
  int64_t max_tokens = -1;  // keep the first N ids of the stream; -1 = all
};

// One opened data file. Validates the file on construction (missing file, empty data, bad lines,
// bad id headers: InputError naming the file). Tokenizes lazily and caches what sampling reuses:
// the stream of a text file, the token counts of documents. Not thread-safe.
class Dataset {
 public:
  // tokenizer: needed for text / wikitext / jsonl (may be null for ids); bos: id put in front of a
  // tokenized stream or document, -1 for none (ignored for ids, which are used as stored and
  // checked against spec.vocab_size, not against the tokenizer).
  Dataset(DataSpec spec, const tok::Tokenizer* tokenizer, int32_t bos);

  Format format() const { return format_; }
  const std::string& path() const { return spec_.path; }
  // jsonl: sampling draws documents; every other format is one token stream.
  bool has_documents() const { return format_ == Format::Jsonl; }

  // Stream formats. text: bos + encode(file text); wikitext: bos + encode(wikitext_eval_string);
  // ids: the stored ids (read from the mapping slice by slice).
  int64_t stream_length();
  std::vector<int32_t> stream_slice(int64_t offset, int64_t n);

  // Document format (jsonl). Document ids are bos + encode(text), as the C4 loaders' tokenizer call.
  int64_t num_documents() const;
  std::vector<int32_t> document_ids(int64_t doc);
  int64_t document_length(int64_t doc);  // cached: a document is tokenized once for its length

  // The evaluation stream (see load_eval_ids).
  std::vector<int32_t> eval_ids(const EvalOptions& opts = {});

  // Counts tokenizer calls (tests check that materialising a subset tokenizes only its documents).
  int64_t encode_calls() const { return encode_calls_; }

 private:
  std::vector<int32_t> encode_with_bos(const std::string& text, bool with_bos);
  const std::vector<int32_t>& stream();  // text / wikitext, tokenized on first use

  DataSpec spec_;
  Format format_;
  const tok::Tokenizer* tokenizer_;
  int32_t bos_;
  std::optional<JsonlDocs> docs_;
  std::optional<IdsFile> ids_;
  std::optional<std::vector<int32_t>> stream_;
  std::unordered_map<int64_t, int64_t> doc_length_;
  int64_t encode_calls_ = 0;
};

// Evaluation ids (perplexity protocol of SparseGPT / Wanda and make_reference.py):
//  text: bos + encode(whole file); wikitext: bos + encode(wikitext_eval_string(file));
//  jsonl: encode(" ".join(first max_docs documents)), no BOS (SparseGPT's C4 validation);
//  ids: as stored. Then cut to max_tokens.
std::vector<int32_t> load_eval_ids(const DataSpec& spec, const tok::Tokenizer* tokenizer, int32_t bos,
                                   const EvalOptions& opts = {});

}  // namespace sp::data
