#include "tokenize/tokenizer_steps.h"

#include <algorithm>
#include <utility>

#include "tokenize/unicode.h"
#include "tokenize/unicode_nfc.h"

namespace sp::tok {

namespace {

void replace_all(std::string& s, std::string_view from, std::string_view to) {
  if (from.empty() || s.find(from) == std::string::npos) return;
  std::string out;
  out.reserve(s.size() + s.size() / 4);
  size_t pos = 0;
  for (size_t hit; (hit = s.find(from, pos)) != std::string::npos; pos = hit + from.size()) {
    out.append(s, pos, hit - pos);
    out.append(to);
  }
  out.append(s, pos);
  s = std::move(out);
}

struct Span {
  size_t begin, end;
  bool is_match;
};

// Matches of the pattern plus the gaps between them, covering `text` (tokenizers' find_matches).
std::vector<Span> find_matches(const PreTokenizerStep& step, std::string_view text) {
  std::vector<std::pair<size_t, size_t>> hits;
  if (step.regex) {
    hits = step.regex->find_all(text);
  } else if (!step.literal.empty()) {
    for (size_t p = text.find(step.literal); p != std::string_view::npos;
         p = text.find(step.literal, p + step.literal.size()))
      hits.emplace_back(p, p + step.literal.size());
  }
  std::vector<Span> spans;
  size_t pos = 0;
  for (const auto& [b, e] : hits) {
    if (b > pos) spans.push_back({pos, b, false});
    spans.push_back({b, e, true});
    pos = e;
  }
  if (pos < text.size()) spans.push_back({pos, text.size(), false});
  return spans;
}

// tokenizers' NormalizedString::split for the four behaviours.
void split_words(const PreTokenizerStep& step, const std::string& text, std::vector<std::string>& out) {
  std::vector<Span> spans = find_matches(step, text);
  if (step.invert)
    for (auto& s : spans) s.is_match = !s.is_match;
  std::vector<Span> merged;
  switch (step.behavior) {
    case SplitBehavior::kRemoved:
      for (const auto& s : spans)
        if (!s.is_match) merged.push_back(s);
      break;
    case SplitBehavior::kIsolated:
      merged = std::move(spans);
      break;
    case SplitBehavior::kMergedWithPrevious: {
      bool previous_match = false;
      for (const auto& s : spans) {
        if (s.is_match && !previous_match && !merged.empty())
          merged.back().end = s.end;
        else
          merged.push_back(s);
        previous_match = s.is_match;
      }
      break;
    }
    case SplitBehavior::kContiguous:
      // Consecutive spans of the same kind join into one piece (after invert, also neighbouring
      // spans that were matches of the pattern), as tokenizers does.
      for (const auto& s : spans) {
        if (!merged.empty() && s.is_match == merged.back().is_match)
          merged.back().end = s.end;
        else
          merged.push_back(s);
      }
      break;
    case SplitBehavior::kMergedWithNext: {
      bool previous_match = false;
      for (auto it = spans.rbegin(); it != spans.rend(); ++it) {
        if (it->is_match && !previous_match && !merged.empty())
          merged.back().begin = it->begin;
        else
          merged.push_back(*it);
        previous_match = it->is_match;
      }
      std::reverse(merged.begin(), merged.end());
      break;
    }
  }
  for (const auto& s : merged)
    if (s.end > s.begin) out.emplace_back(text, s.begin, s.end - s.begin);
}

void apply_step(const PreTokenizerStep& step, std::string word, bool at_start, std::vector<std::string>& out) {
  switch (step.kind) {
    case PreTokenizerStep::Kind::kByteLevel: {
      // tokenizers' NormalizedString::prepend does nothing to an empty string.
      if (step.add_prefix_space && !word.empty() && word[0] != ' ') word.insert(0, 1, ' ');
      if (!step.use_regex) {
        out.push_back(std::move(word));
        return;
      }
      PreTokenizerStep iso;
      iso.kind = PreTokenizerStep::Kind::kSplit;
      iso.regex = gpt2_split_regex();
      split_words(iso, word, out);
      return;
    }
    case PreTokenizerStep::Kind::kSplit:
      split_words(step, word, out);
      return;
    case PreTokenizerStep::Kind::kMetaspace: {
      replace_all(word, " ", step.replacement);
      const bool starts = word.compare(0, step.replacement.size(), step.replacement) == 0;
      if (!starts &&
          (step.prepend_scheme == PrependScheme::kAlways || (step.prepend_scheme == PrependScheme::kFirst && at_start)))
        word.insert(0, step.replacement);
      if (!step.split) {
        out.push_back(std::move(word));
        return;
      }
      PreTokenizerStep on_char;
      on_char.kind = PreTokenizerStep::Kind::kSplit;
      on_char.literal = step.replacement;
      on_char.behavior = SplitBehavior::kMergedWithNext;
      split_words(on_char, word, out);
      return;
    }
  }
}

}  // namespace

std::string normalize(const std::vector<NormalizerStep>& steps, std::string text) {
  for (const auto& st : steps) {
    switch (st.kind) {
      case NormalizerStep::Kind::kPrepend:
        if (!text.empty()) text.insert(0, st.text);
        break;
      case NormalizerStep::Kind::kNfc:
        text = nfc(text);
        break;
      case NormalizerStep::Kind::kNfd:
        text = nfd(text);
        break;
      case NormalizerStep::Kind::kNfkc:
        text = nfkc(text);
        break;
      case NormalizerStep::Kind::kNfkd:
        text = nfkd(text);
        break;
      case NormalizerStep::Kind::kLowercase:
        text = lowercase(text);
        break;
      case NormalizerStep::Kind::kStrip:
        text = strip_white_space(std::move(text), st.strip_left, st.strip_right);
        break;
      case NormalizerStep::Kind::kReplace:
        if (st.regex) {
          std::string out;
          size_t pos = 0;
          for (const auto& [b, e] : st.regex->find_all(text)) {
            out.append(text, pos, b - pos);
            out.append(st.content);
            pos = e;
          }
          out.append(text, pos);
          text = std::move(out);
        } else {
          replace_all(text, st.text, st.content);
        }
        break;
    }
  }
  return text;
}

namespace {

std::shared_ptr<const UnicodeRegex> shared_regex(const char* pattern, const char* what) {
  return std::make_shared<const UnicodeRegex>(pattern, what);
}

PreTokenizerStep split_step(std::shared_ptr<const UnicodeRegex> re, SplitBehavior behavior, bool invert) {
  PreTokenizerStep st;
  st.kind = PreTokenizerStep::Kind::kSplit;
  st.regex = std::move(re);
  st.behavior = behavior;
  st.invert = invert;
  return st;
}

}  // namespace

std::string strip_white_space(std::string text, bool left, bool right) {
  // \s here is Unicode White_Space (UnicodeRegex adds U+0085), what Rust's char::is_whitespace tests.
  static const auto lead = shared_regex(R"(^\s+)", "Strip normalizer");
  static const auto trail = shared_regex(R"(\s+\z)", "Strip normalizer");
  if (right)
    if (const auto m = trail->find_all(text); !m.empty()) text.erase(m.back().first);
  if (left)
    if (const auto m = lead->find_all(text); !m.empty()) text.erase(0, m.front().second);
  return text;
}

PreTokenizerStep make_digits(bool individual_digits) {
  // Rust's char::is_numeric: general categories Nd, Nl, No, i.e. \p{N}.
  static const auto re = shared_regex(R"(\p{N})", "Digits pre-tokenizer");
  return split_step(re, individual_digits ? SplitBehavior::kIsolated : SplitBehavior::kContiguous, false);
}

PreTokenizerStep make_punctuation(SplitBehavior behavior) {
  // tokenizers' is_punc: ASCII punctuation (which includes symbols such as $ + < = > ^ ` | ~) or
  // a Unicode punctuation category (Pc Pd Pe Pf Pi Po Ps).
  static const auto re = shared_regex(R"([\p{P}!-/:-@\[-`{-~])", "Punctuation pre-tokenizer");
  return split_step(re, behavior, false);
}

PreTokenizerStep make_whitespace() {
  // tokenizers: \w+|[^\w\s]+ in Oniguruma, whose Unicode \w is Alphabetic, Mark, Decimal_Number
  // and Connector_Punctuation (PCRE2's UCP \w is only \p{L}, \p{N} and _): spelled out here.
  static const auto re = shared_regex(R"([\p{Alphabetic}\p{M}\p{Nd}\p{Pc}]+|[^\p{Alphabetic}\p{M}\p{Nd}\p{Pc}\s]+)",
                                      "Whitespace pre-tokenizer");
  return split_step(re, SplitBehavior::kRemoved, true);
}

PreTokenizerStep make_whitespace_split() {
  static const auto re = shared_regex(R"(\s)", "WhitespaceSplit pre-tokenizer");
  return split_step(re, SplitBehavior::kRemoved, false);
}

std::shared_ptr<const UnicodeRegex> gpt2_split_regex() {
  static const auto re = std::make_shared<const UnicodeRegex>(
      R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)", "GPT-2 split pattern");
  return re;
}

void pre_tokenize(const std::vector<PreTokenizerStep>& steps, std::string text, bool at_start,
                  std::vector<std::string>& words) {
  std::vector<std::string> cur;
  cur.push_back(std::move(text));
  for (const auto& step : steps) {
    std::vector<std::string> next;
    next.reserve(cur.size());
    for (size_t i = 0; i < cur.size(); ++i) apply_step(step, std::move(cur[i]), at_start && i == 0, next);
    cur = std::move(next);
  }
  for (auto& w : cur)
    if (!w.empty()) words.push_back(std::move(w));
}

namespace {

bool byte_token(const std::string& t, uint8_t* byte) {
  if (t.size() != 6 || t.compare(0, 3, "<0x") != 0 || t[5] != '>') return false;
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  const int hi = hex(t[3]), lo = hex(t[4]);
  if (hi < 0 || lo < 0) return false;
  *byte = static_cast<uint8_t>(hi * 16 + lo);
  return true;
}

// tokenizers' ByteFallback: runs of <0xHH> become their string when valid UTF-8, else one
// U+FFFD per byte.
std::vector<std::string> byte_fallback(std::vector<std::string> tokens) {
  std::vector<std::string> out;
  out.reserve(tokens.size());
  std::string pending;
  auto flush = [&] {
    if (pending.empty()) return;
    if (is_valid_utf8(pending)) {
      out.push_back(pending);
    } else {
      for (size_t i = 0; i < pending.size(); ++i) out.emplace_back("\xEF\xBF\xBD");
    }
    pending.clear();
  };
  for (auto& t : tokens) {
    uint8_t b = 0;
    if (byte_token(t, &b)) {
      pending += static_cast<char>(b);
    } else {
      flush();
      out.push_back(std::move(t));
    }
  }
  flush();
  return out;
}

std::string join(const std::vector<std::string>& tokens) {
  std::string out;
  for (const auto& t : tokens) out += t;
  return out;
}

}  // namespace

std::string decode_tokens(const std::vector<DecoderStep>& steps, bool has_decoder, std::vector<std::string> tokens) {
  if (!has_decoder) {
    std::string out;
    for (size_t i = 0; i < tokens.size(); ++i) out += (i ? " " : "") + tokens[i];
    return out;
  }
  for (const auto& st : steps) {
    switch (st.kind) {
      case DecoderStep::Kind::kByteLevel: {
        std::string bytes;
        for (const auto& t : tokens)
          if (!byte_level_map().decode(t, bytes)) bytes += t;  // HF keeps a token with foreign chars as is
        tokens.assign(1, utf8_lossy(bytes));
        break;
      }
      case DecoderStep::Kind::kReplace:
        for (auto& t : tokens) replace_all(t, st.pattern, st.content);
        break;
      case DecoderStep::Kind::kByteFallback:
        tokens = byte_fallback(std::move(tokens));
        break;
      case DecoderStep::Kind::kFuse:
        tokens.assign(1, join(tokens));
        break;
      case DecoderStep::Kind::kStrip:
        for (auto& t : tokens) {
          size_t b = 0, e = t.size();
          for (size_t k = 0; k < st.start && t.compare(b, st.content.size(), st.content) == 0; ++k)
            b += st.content.size();
          for (size_t k = 0; k < st.stop && e >= b + st.content.size() &&
                             t.compare(e - st.content.size(), st.content.size(), st.content) == 0;
               ++k)
            e -= st.content.size();
          t = t.substr(b, e - b);
        }
        break;
      case DecoderStep::Kind::kMetaspace:
        // tokenizers: the replacement char becomes a space, except in the first token where it is
        // dropped (the prefix the pre-tokenizer added) unless prepend_scheme is "never".
        for (size_t i = 0; i < tokens.size(); ++i)
          replace_all(tokens[i], st.replacement, i == 0 && st.prepend_scheme != PrependScheme::kNever ? "" : " ");
        break;
    }
  }
  return join(tokens);
}

}  // namespace sp::tok
