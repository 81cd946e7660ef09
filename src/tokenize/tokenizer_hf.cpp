#include "tokenize/tokenizer_hf.h"

#include <nlohmann/json.hpp>
#include <unordered_map>

#include "core/error.h"
#include "core/log.h"

namespace sp::tok {

namespace {

using Json = nlohmann::json;

std::string str_or(const Json& j, const char* key, const std::string& dflt) {
  return j.contains(key) && j[key].is_string() ? j[key].get<std::string>() : dflt;
}
bool bool_or(const Json& j, const char* key, bool dflt) {
  return j.contains(key) && j[key].is_boolean() ? j[key].get<bool>() : dflt;
}

// A {"String": s} or {"Regex": r} pattern; regex is set for the latter.
void read_pattern(const Json& p, const std::string& where, std::string* literal,
                  std::shared_ptr<const UnicodeRegex>* regex) {
  if (p.is_string()) {
    *literal = p.get<std::string>();
  } else if (p.contains("String")) {
    *literal = p["String"].get<std::string>();
  } else if (p.contains("Regex")) {
    *regex = std::make_shared<const UnicodeRegex>(p["Regex"].get<std::string>(), where);
  } else {
    throw_input("{}: pattern must be {{\"String\": ..}} or {{\"Regex\": ..}}", where);
  }
}

PrependScheme read_prepend_scheme(const Json& j, const std::string& where) {
  if (j.contains("prepend_scheme") && j["prepend_scheme"].is_string()) {
    const auto s = j["prepend_scheme"].get<std::string>();
    if (s == "always") return PrependScheme::kAlways;
    if (s == "first") return PrependScheme::kFirst;
    if (s == "never") return PrependScheme::kNever;
    throw_input("{}: unknown Metaspace prepend_scheme '{}'", where, s);
  }
  return bool_or(j, "add_prefix_space", true) ? PrependScheme::kAlways : PrependScheme::kNever;
}

void read_normalizer(const Json& j, const std::string& where, std::vector<NormalizerStep>& out) {
  if (j.is_null()) return;
  const auto type = str_or(j, "type", "");
  if (type == "Sequence") {
    for (const auto& n : j.at("normalizers")) read_normalizer(n, where, out);
  } else if (type == "Prepend") {
    out.push_back({NormalizerStep::Kind::kPrepend, j.at("prepend").get<std::string>(), "", nullptr});
  } else if (type == "Replace") {
    NormalizerStep st{NormalizerStep::Kind::kReplace, "", j.at("content").get<std::string>(), nullptr};
    read_pattern(j.at("pattern"), where + " normalizer Replace", &st.text, &st.regex);
    out.push_back(std::move(st));
  } else if (type == "NFC" || type == "NFD" || type == "NFKC" || type == "NFKD" || type == "Lowercase") {
    using K = NormalizerStep::Kind;
    const K kind = type == "NFC" ? K::kNfc : type == "NFD" ? K::kNfd : type == "NFKC" ? K::kNfkc
                 : type == "NFKD" ? K::kNfkd : K::kLowercase;
    out.push_back({kind, "", "", nullptr});
  } else if (type == "Strip") {
    NormalizerStep st{NormalizerStep::Kind::kStrip, "", "", nullptr};
    st.strip_left = bool_or(j, "strip_left", true);
    st.strip_right = bool_or(j, "strip_right", true);
    out.push_back(std::move(st));
  } else {
    // BertNormalizer, StripAccents, Precompiled, ...: refusing beats silently wrong ids.
    throw_input("{}: normalizer '{}' is not supported (supported: Sequence, Prepend, Replace, Strip, Lowercase, NFC, "
                "NFD, NFKC, NFKD)",
                where, type);
  }
}

SplitBehavior read_behavior(const std::string& s, const std::string& where) {
  if (s == "Removed") return SplitBehavior::kRemoved;
  if (s == "Isolated") return SplitBehavior::kIsolated;
  if (s == "MergedWithPrevious") return SplitBehavior::kMergedWithPrevious;
  if (s == "MergedWithNext") return SplitBehavior::kMergedWithNext;
  if (s == "Contiguous") return SplitBehavior::kContiguous;
  throw_input("{}: Split behavior '{}' is not supported", where, s);
}

void read_pre_tokenizer(const Json& j, const std::string& where, std::vector<PreTokenizerStep>& out) {
  if (j.is_null()) return;
  const auto type = str_or(j, "type", "");
  PreTokenizerStep st;
  if (type == "Sequence") {
    for (const auto& p : j.at("pretokenizers")) read_pre_tokenizer(p, where, out);
    return;
  } else if (type == "ByteLevel") {
    st.kind = PreTokenizerStep::Kind::kByteLevel;
    st.add_prefix_space = bool_or(j, "add_prefix_space", true);
    st.use_regex = bool_or(j, "use_regex", true);
  } else if (type == "Split") {
    st.kind = PreTokenizerStep::Kind::kSplit;
    read_pattern(j.at("pattern"), where + " pre_tokenizer Split", &st.literal, &st.regex);
    st.behavior = read_behavior(str_or(j, "behavior", "Isolated"), where);
    st.invert = bool_or(j, "invert", false);
  } else if (type == "Metaspace") {
    st.kind = PreTokenizerStep::Kind::kMetaspace;
    st.replacement = str_or(j, "replacement", st.replacement);
    st.prepend_scheme = read_prepend_scheme(j, where);
    st.split = bool_or(j, "split", true);
  } else if (type == "Digits") {
    st = make_digits(bool_or(j, "individual_digits", false));
  } else if (type == "Punctuation") {
    st = make_punctuation(read_behavior(str_or(j, "behavior", "Isolated"), where));
  } else if (type == "Whitespace") {
    st = make_whitespace();
  } else if (type == "WhitespaceSplit") {
    st = make_whitespace_split();
  } else {
    throw_input("{}: pre_tokenizer '{}' is not supported (supported: Sequence, ByteLevel, Split, Metaspace, Digits, "
                "Punctuation, Whitespace, WhitespaceSplit)",
                where, type);
  }
  out.push_back(std::move(st));
}

void read_decoder(const Json& j, const std::string& where, std::vector<DecoderStep>& out) {
  const auto type = str_or(j, "type", "");
  DecoderStep st;
  if (type == "Sequence") {
    for (const auto& d : j.at("decoders")) read_decoder(d, where, out);
    return;
  } else if (type == "ByteLevel") {
    st.kind = DecoderStep::Kind::kByteLevel;
  } else if (type == "Replace") {
    st.kind = DecoderStep::Kind::kReplace;
    std::shared_ptr<const UnicodeRegex> re;
    read_pattern(j.at("pattern"), where + " decoder Replace", &st.pattern, &re);
    SP_REQUIRE(re == nullptr, "{}: decoder Replace with a Regex pattern is not supported", where);
    st.content = j.at("content").get<std::string>();
  } else if (type == "ByteFallback") {
    st.kind = DecoderStep::Kind::kByteFallback;
  } else if (type == "Fuse") {
    st.kind = DecoderStep::Kind::kFuse;
  } else if (type == "Strip") {
    st.kind = DecoderStep::Kind::kStrip;
    st.content = j.at("content").get<std::string>();
    st.start = j.value("start", size_t{0});
    st.stop = j.value("stop", size_t{0});
  } else if (type == "Metaspace") {
    st.kind = DecoderStep::Kind::kMetaspace;
    st.replacement = str_or(j, "replacement", st.replacement);
    st.prepend_scheme = read_prepend_scheme(j, where);
  } else {
    throw_input("{}: decoder '{}' is not supported", where, type);
  }
  out.push_back(std::move(st));
}

// id -> piece; a second piece with an id already taken goes to `aliases` (HF loads such files).
std::vector<std::string> read_vocab(const Json& vocab, const std::string& where,
                                    std::vector<std::pair<std::string, int32_t>>* aliases) {
  SP_REQUIRE(vocab.is_object(), "{}: model.vocab must be an object piece -> id", where);
  std::vector<std::string> pieces;
  for (const auto& [piece, id_json] : vocab.items()) {
    SP_REQUIRE(id_json.is_number_integer(), "{}: model.vocab['{}'] must be an integer id, got {}", where, piece,
               id_json.dump());
    const auto id = id_json.get<int64_t>();
    SP_REQUIRE(id >= 0 && id < (int64_t{1} << 24), "{}: vocab id {} of '{}' out of range", where, id, piece);
    if (static_cast<size_t>(id) >= pieces.size()) pieces.resize(static_cast<size_t>(id) + 1);
    std::string& slot = pieces[static_cast<size_t>(id)];
    if (slot.empty())
      slot = piece;
    else
      aliases->emplace_back(piece, static_cast<int32_t>(id));
  }
  return pieces;
}

// tokenizers' AddedVocabulary, fed the file's added_tokens in order: the id in the file is only a
// hint. A token spelled like a vocabulary piece takes that piece's id; one already added keeps its
// id and takes the later flags (special if either is); any other gets the next free id after the
// vocabulary's entry count and the added ids; an empty one is ignored.
std::vector<AddedToken> read_added_tokens(const Json& list, const std::unordered_map<std::string, int32_t>& vocab,
                                          size_t vocab_entries, const std::vector<NormalizerStep>& normalizer,
                                          const std::string& where) {
  std::vector<AddedToken> out;
  std::unordered_map<std::string, size_t> by_content;
  int64_t max_added = -1;
  const auto n_vocab = static_cast<int64_t>(vocab_entries);
  for (const auto& a : list) {
    AddedToken at;
    at.id = a.at("id").get<int32_t>();
    at.content = a.at("content").get<std::string>();
    at.special = a.value("special", false);
    at.lstrip = a.value("lstrip", false);
    at.rstrip = a.value("rstrip", false);
    at.single_word = a.value("single_word", false);
    at.normalized = a.value("normalized", !at.special);
    if (at.content.empty()) continue;
    if (at.normalized) at.normalized_content = normalize(normalizer, at.content);
    if (const auto it = by_content.find(at.content); it != by_content.end()) {
      AddedToken& old = out[it->second];
      at.id = old.id;
      at.special = at.special || old.special;
      old = std::move(at);
      continue;
    }
    if (const auto it = vocab.find(at.content); it != vocab.end()) {
      at.id = it->second;
    } else {
      const int64_t next = max_added < 0 ? n_vocab : (max_added >= n_vocab || n_vocab == 0 ? max_added + 1 : n_vocab);
      SP_REQUIRE(next < (int64_t{1} << 24), "{}: added token '{}' would get id {}, out of range", where, at.content,
                 next);
      at.id = static_cast<int32_t>(next);
    }
    max_added = std::max<int64_t>(max_added, at.id);
    by_content.emplace(at.content, out.size());
    out.push_back(std::move(at));
  }
  return out;
}

// "a b" strings (older files, merges.txt) or ["a", "b"] pairs (newer files).
std::pair<std::string, std::string> read_merge(const Json& m, const std::string& where) {
  if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string())
    return {m[0].get<std::string>(), m[1].get<std::string>()};
  SP_REQUIRE(m.is_string(), "{}: model.merges: a merge must be \"a b\" or [\"a\", \"b\"], got {}", where, m.dump());
  const auto s = m.get<std::string>();
  const size_t sp = s.find(' ');
  SP_REQUIRE(sp != std::string::npos && s.find(' ', sp + 1) == std::string::npos, "{}: bad merge '{}'", where, s);
  return {s.substr(0, sp), s.substr(sp + 1)};
}

bool has_byte_level(const std::vector<PreTokenizerStep>& steps) {
  for (const auto& s : steps)
    if (s.kind == PreTokenizerStep::Kind::kByteLevel) return true;
  return false;
}

// TemplateProcessing's single-sequence template: the ids of the special tokens before and after
// $A (HF writes every id a special token lists). ByteLevel post-processing only moves offsets.
void read_post_processor(const Json& j, const std::string& where, std::vector<int32_t>* before,
                         std::vector<int32_t>* after) {
  if (j.is_null()) return;
  const auto type = str_or(j, "type", "");
  if (type == "Sequence") {
    for (const auto& p : j.at("processors")) read_post_processor(p, where, before, after);
    return;
  }
  if (type == "ByteLevel") return;
  SP_REQUIRE(type == "TemplateProcessing",
             "{}: post_processor '{}' is not supported (supported: TemplateProcessing, ByteLevel, Sequence)", where,
             type);
  bool seen_sequence = false;
  for (const auto& item : j.at("single")) {
    if (item.contains("Sequence")) {
      SP_REQUIRE(!seen_sequence, "{}: TemplateProcessing 'single' names the sequence twice", where);
      seen_sequence = true;
      continue;
    }
    const auto name = item.at("SpecialToken").at("id").get<std::string>();
    const auto& specials = j.at("special_tokens");
    SP_REQUIRE(specials.contains(name), "{}: TemplateProcessing special token '{}' is not in special_tokens", where,
               name);
    for (const auto& id : specials[name].at("ids")) (seen_sequence ? after : before)->push_back(id.get<int32_t>());
  }
}

// A special added token with one of these spellings stands for BOS / EOS when nothing says so.
int find_named(const AddedTokens& added, std::initializer_list<const char*> names) {
  for (const char* n : names)
    if (const AddedToken* t = added.by_content(n); t != nullptr && t->special) return t->id;
  return -1;
}

}  // namespace

std::unique_ptr<HfTokenizer> HfTokenizer::from_json_text(std::string_view json_text, const std::string& where) {
  Json j;
  try {
    j = Json::parse(json_text);
  } catch (const Json::exception& e) {
    throw_input("{}: not valid JSON: {}", where, e.what());
  }
  std::unique_ptr<HfTokenizer> t(new HfTokenizer());
  t->where_ = where;
  try {
    SP_REQUIRE(j.contains("model") && j["model"].is_object(), "{}: no 'model' object", where);
    const Json& m = j["model"];
    const auto type = str_or(m, "type", "BPE");
    SP_REQUIRE(type == "BPE", "{}: model type '{}' is not supported (only BPE)", where, type);
    SP_REQUIRE(str_or(m, "continuing_subword_prefix", "").empty() && str_or(m, "end_of_word_suffix", "").empty(),
               "{}: BPE continuing_subword_prefix / end_of_word_suffix are not supported", where);
    SP_REQUIRE(!m.contains("dropout") || m["dropout"].is_null() || m["dropout"].get<double>() == 0.0,
               "{}: BPE dropout is a training option; a tokenizer with dropout is not deterministic", where);
    read_normalizer(j.value("normalizer", Json()), where, t->normalizer_);
    read_pre_tokenizer(j.value("pre_tokenizer", Json()), where, t->pre_tokenizer_);
    const Json dec = j.value("decoder", Json());
    t->has_decoder_ = !dec.is_null();
    if (t->has_decoder_) read_decoder(dec, where, t->decoder_);

    SP_REQUIRE(m.contains("vocab"), "{}: missing field 'model.vocab'", where);
    SP_REQUIRE(!m.contains("merges") || m["merges"].is_array(), "{}: field 'model.merges' must be a list", where);
    std::vector<std::pair<std::string, int32_t>> aliases;
    std::vector<std::string> pieces = read_vocab(m.at("vocab"), where, &aliases);
    std::unordered_map<std::string, int32_t> index;
    for (size_t i = 0; i < pieces.size(); ++i)
      if (!pieces[i].empty()) index.emplace(pieces[i], static_cast<int32_t>(i));
    for (const auto& [piece, id] : aliases) index.emplace(piece, id);
    BpeOptions opts;
    opts.byte_level = has_byte_level(t->pre_tokenizer_);
    opts.byte_fallback = bool_or(m, "byte_fallback", false);
    opts.fuse_unk = bool_or(m, "fuse_unk", false);
    opts.ignore_merges = bool_or(m, "ignore_merges", false);
    if (const auto unk = str_or(m, "unk_token", ""); !unk.empty()) {
      const auto it = index.find(unk);
      if (it != index.end())
        opts.unk_id = it->second;
      else
        opts.missing_unk = unk;
    }
    t->model_ = std::make_unique<BpeModel>(std::move(pieces), opts, where, aliases);
    std::vector<std::pair<std::string, std::string>> merges;
    for (const auto& mj : m.value("merges", Json::array())) merges.push_back(read_merge(mj, where));
    t->model_->add_merges_by_rank(merges);

    std::vector<AddedToken> added =
        read_added_tokens(j.value("added_tokens", Json::array()), index, m.at("vocab").size(), t->normalizer_, where);
    t->added_ = AddedTokens(std::move(added));
    read_post_processor(j.value("post_processor", Json()), where, &t->template_before_, &t->template_after_);
    // The special token before $A is BOS, the one after it EOS.
    if (!t->template_before_.empty()) t->bos_ = t->template_before_.front();
    if (!t->template_after_.empty()) t->eos_ = t->template_after_.back();
  } catch (const Json::exception& e) {
    throw_input("{}: unexpected content: {}", where, e.what());
  }
  if (t->bos_ < 0) t->bos_ = find_named(t->added_, {"<s>", "<|begin_of_text|>", "<|startoftext|>", "<|endoftext|>"});
  if (t->eos_ < 0) t->eos_ = find_named(t->added_, {"</s>", "<|end_of_text|>", "<|endoftext|>", "<|im_end|>"});
  return t;
}

std::unique_ptr<HfTokenizer> HfTokenizer::from_vocab_merges_text(std::string_view vocab_json,
                                                                 std::string_view merges_txt,
                                                                 const std::string& where) {
  Json vocab;
  try {
    vocab = Json::parse(vocab_json);
  } catch (const Json::exception& e) {
    throw_input("{}: vocab is not valid JSON: {}", where, e.what());
  }
  std::unique_ptr<HfTokenizer> t(new HfTokenizer());
  t->where_ = where;
  PreTokenizerStep pre;
  pre.kind = PreTokenizerStep::Kind::kByteLevel;
  t->pre_tokenizer_.push_back(pre);
  t->decoder_.push_back(DecoderStep{DecoderStep::Kind::kByteLevel, "", "", 0, 0, "", PrependScheme::kAlways});
  t->has_decoder_ = true;
  BpeOptions opts;
  opts.byte_level = true;
  std::vector<std::pair<std::string, int32_t>> aliases;
  std::vector<std::string> pieces = read_vocab(vocab, where, &aliases);
  t->model_ = std::make_unique<BpeModel>(std::move(pieces), opts, where, aliases);
  std::vector<std::pair<std::string, std::string>> merges;
  size_t line_no = 0;
  for (size_t pos = 0; pos < merges_txt.size();) {
    size_t end = merges_txt.find('\n', pos);
    if (end == std::string_view::npos) end = merges_txt.size();
    std::string line(merges_txt.substr(pos, end - pos));
    pos = end + 1;
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty() || (line_no == 1 && line.starts_with("#version"))) continue;
    merges.push_back(read_merge(Json(line), fmt::format("{} line {}", where, line_no)));
  }
  t->model_->add_merges_by_rank(merges);
  if (const int32_t eot = t->model_->find("<|endoftext|>"); eot >= 0) {
    t->added_ = AddedTokens({AddedToken{"<|endoftext|>", eot, true, false, false, false, false, ""}});
    t->bos_ = t->eos_ = eot;
  }
  return t;
}

std::vector<int32_t> HfTokenizer::encode(std::string_view text) const {
  std::vector<int32_t> out;
  out.reserve(text.size() / 3 + 8);
  // Words repeat a lot in natural text: remember short words' ids for this call.
  BpeModel::WordCache cache;
  std::vector<std::string> words;
  std::array<int64_t, 256> missing{};  // occurrences of each byte the byte-level vocabulary lacks
  int64_t n_missing = 0;
  const bool lacks_bytes = !model_->missing_bytes().empty();
  const auto segments =
      added_.empty() ? std::vector<AddedTokens::Segment>{{text, -1, true}} : added_.split(text, false);
  for (const auto& seg : segments) {
    if (seg.id >= 0) {
      out.push_back(seg.id);
      continue;
    }
    const std::string norm = normalize(normalizer_, std::string(seg.text));
    const auto parts =
        added_.any_normalized() ? added_.split(norm, true) : std::vector<AddedTokens::Segment>{{norm, -1, true}};
    for (const auto& part : parts) {
      if (part.id >= 0) {
        out.push_back(part.id);
        continue;
      }
      words.clear();
      pre_tokenize(pre_tokenizer_, std::string(part.text), seg.at_start && part.at_start, words);
      for (const auto& w : words) {
        if (lacks_bytes) n_missing += model_->count_missing_bytes(w, missing);
        model_->encode_word_cached(w, cache, out);
      }
    }
  }
  if (n_missing > 0) warn_missing_bytes(n_missing, missing);
  return out;
}

void HfTokenizer::warn_missing_bytes(int64_t n, const std::array<int64_t, 256>& counts) const {
  if (warned_missing_bytes_.exchange(true)) return;
  std::string which;
  for (int b = 0; b < 256; ++b)
    if (counts[static_cast<size_t>(b)] > 0)
      which += fmt::format("{}0x{:02X} x{}", which.empty() ? "" : ", ", b, counts[static_cast<size_t>(b)]);
  const BpeOptions& o = model_->options();
  const std::string rest = o.unk_id >= 0 ? fmt::format("the unk token '{}'", model_->piece(o.unk_id))
                                         : std::string("nothing (no unk_token)");
  const std::string fate =
      o.byte_fallback ? "its <0xHH> byte-fallback pieces where the vocabulary has them, else " + rest : rest;
  SP_LOG_WARN(
      "{}: the byte-level vocabulary has no piece for {} byte(s) of the text ({}); each became {}, as "
      "Hugging Face tokenizers does (warned once per tokenizer)",
      where_, n, which, fate);
}

std::vector<int32_t> HfTokenizer::encode_with_specials(std::string_view text) const {
  std::vector<int32_t> out = template_before_;
  const auto body = encode(text);
  out.insert(out.end(), body.begin(), body.end());
  out.insert(out.end(), template_after_.begin(), template_after_.end());
  return out;
}

std::string HfTokenizer::decode(std::span<const int32_t> ids) const {
  std::vector<std::string> tokens;
  tokens.reserve(ids.size());
  for (const int32_t id : ids) {
    if (const AddedToken* a = added_.by_id(id)) {
      if (!a->special) tokens.push_back(a->content);
    } else if (id >= 0 && id < model_->size()) {
      tokens.push_back(model_->piece(id));
    }  // ids outside the vocabulary (padding rows of the embedding) decode to nothing, as in HF
  }
  return decode_tokens(decoder_, has_decoder_, std::move(tokens));
}

int HfTokenizer::vocab_size() const {
  int n = model_->size();
  for (const auto& a : added_.all()) n = std::max(n, a.id + 1);
  return n;
}

}  // namespace sp::tok
