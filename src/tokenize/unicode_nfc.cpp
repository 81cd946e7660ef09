#include "tokenize/unicode_nfc.h"

#include <algorithm>
#include <cstdint>
#include <iterator>
#include <unordered_map>
#include <vector>

#include "tokenize/unicode.h"

namespace sp::tok {

namespace {

#include "tokenize/unicode_compat_tables.inc"
#include "tokenize/unicode_nfc_tables.inc"

// Hangul syllables compose and decompose arithmetically (Unicode ch. 3.12).
constexpr char32_t kSBase = 0xAC00, kLBase = 0x1100, kVBase = 0x1161, kTBase = 0x11A7;
constexpr char32_t kLCount = 19, kVCount = 21, kTCount = 28, kNCount = kVCount * kTCount, kSCount = kLCount * kNCount;

struct Tables {
  std::unordered_map<char32_t, std::pair<char32_t, char32_t>> decomp;  // second = 0: singleton
  std::unordered_map<uint64_t, char32_t> compose;
  std::unordered_map<char32_t, std::u32string> compat;  // one level, compatibility only
};

const Tables& tables() {
  static const Tables t = [] {
    Tables t;
    for (const auto& d : kDecompositions) t.decomp.emplace(d[0], std::make_pair(d[1], d[2]));
    for (const auto& c : kCompositions) t.compose.emplace((uint64_t{c[0]} << 32) | c[1], c[2]);
    for (const auto& r : kCompatSingle)
      for (uint32_t cp = r[0]; cp <= r[1]; ++cp) t.compat.emplace(cp, std::u32string(1, char32_t(r[2] + cp - r[0])));
    // kCompatMulti: {cp, n, d1..dn} rows laid end to end.
    for (size_t i = 0; i < std::size(kCompatMulti); i += 2 + kCompatMulti[i + 1]) {
      const uint32_t* d = kCompatMulti + i + 2;
      t.compat.emplace(kCompatMulti[i], std::u32string(d, d + kCompatMulti[i + 1]));
    }
    return t;
  }();
  return t;
}

int ccc(char32_t cp) {
  if (cp < 0x300) return 0;
  const auto* end = std::end(kCccRanges);
  const auto* it =
      std::upper_bound(std::begin(kCccRanges), end, cp, [](char32_t v, const uint32_t(&r)[3]) { return v < r[0]; });
  if (it == std::begin(kCccRanges)) return 0;
  --it;
  return cp <= (*it)[1] ? static_cast<int>((*it)[2]) : 0;
}

void decompose(char32_t cp, bool compat, std::u32string& out) {
  if (cp >= kSBase && cp < kSBase + kSCount) {
    const char32_t s = cp - kSBase;
    out += kLBase + s / kNCount;
    out += kVBase + (s % kNCount) / kTCount;
    if (s % kTCount != 0) out += kTBase + s % kTCount;
    return;
  }
  if (compat) {
    const auto& k = tables().compat;
    if (const auto it = k.find(cp); it != k.end()) {
      for (const char32_t c : it->second) decompose(c, compat, out);
      return;
    }
  }
  const auto& d = tables().decomp;
  const auto it = d.find(cp);
  if (it == d.end()) {
    out += cp;
    return;
  }
  decompose(it->second.first, compat, out);
  if (it->second.second != 0) decompose(it->second.second, compat, out);
}

std::u32string code_points(std::string_view text) {
  std::u32string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    const size_t n = utf8_char_len(text, i);
    auto b = [&](size_t k) { return static_cast<char32_t>(static_cast<uint8_t>(text[i + k])); };
    out += n == 1   ? b(0)
           : n == 2 ? ((b(0) & 0x1F) << 6) | (b(1) & 0x3F)
           : n == 3 ? ((b(0) & 0x0F) << 12) | ((b(1) & 0x3F) << 6) | (b(2) & 0x3F)
                    : ((b(0) & 0x07) << 18) | ((b(1) & 0x3F) << 12) | ((b(2) & 0x3F) << 6) | (b(3) & 0x3F);
    i += n;
  }
  return out;
}

std::string to_utf8(const std::u32string& cps, size_t reserve) {
  std::string s;
  s.reserve(reserve);
  for (const char32_t cp : cps) append_utf8(s, cp);
  return s;
}

// The primary composite of (a, b), or 0.
char32_t compose(char32_t a, char32_t b) {
  if (a >= kLBase && a < kLBase + kLCount && b >= kVBase && b < kVBase + kVCount)
    return kSBase + ((a - kLBase) * kVCount + (b - kVBase)) * kTCount;
  if (a >= kSBase && a < kSBase + kSCount && (a - kSBase) % kTCount == 0 && b > kTBase && b < kTBase + kTCount)
    return a + (b - kTBase);
  const auto& c = tables().compose;
  const auto it = c.find((uint64_t{a} << 32) | b);
  return it == c.end() ? 0 : it->second;
}

// NFD / NFKD (compose false) or NFC / NFKC (compose true) of valid UTF-8.
std::string normalize_form(std::string_view text, bool compat, bool compose_after) {
  std::u32string d;
  d.reserve(text.size());
  for (const char32_t cp : code_points(text)) decompose(cp, compat, d);
  // Canonical ordering: each run of non-starters sorted stably by combining class.
  for (size_t i = 0; i < d.size();) {
    if (ccc(d[i]) == 0) {
      ++i;
      continue;
    }
    size_t j = i;
    while (j < d.size() && ccc(d[j]) != 0) ++j;
    std::stable_sort(d.begin() + static_cast<ptrdiff_t>(i), d.begin() + static_cast<ptrdiff_t>(j),
                     [](char32_t a, char32_t b) { return ccc(a) < ccc(b); });
    i = j;
  }
  if (!compose_after) return to_utf8(d, text.size());
  // Canonical composition: a char joins the last starter unless a char between them blocks it
  // (has class 0 or a class >= its own); last_cc = -1 means nothing stands in between.
  std::u32string out;
  out.reserve(d.size());
  ptrdiff_t starter = -1;
  int last_cc = -1;
  for (const char32_t ch : d) {
    const int cc = ccc(ch);
    if (starter >= 0 && (last_cc == -1 || (last_cc != 0 && last_cc < cc))) {
      if (const char32_t c = compose(out[static_cast<size_t>(starter)], ch); c != 0) {
        out[static_cast<size_t>(starter)] = c;
        continue;
      }
    }
    if (cc == 0) {
      starter = static_cast<ptrdiff_t>(out.size());
      last_cc = -1;
    } else {
      last_cc = cc;
    }
    out += ch;
  }
  return to_utf8(out, text.size());
}

bool all_below(std::string_view text, uint8_t lead) {
  return std::all_of(text.begin(), text.end(), [&](char c) { return static_cast<uint8_t>(c) < lead; });
}

char32_t lower_char(char32_t cp) {
  if (cp < 0x80) return cp >= 'A' && cp <= 'Z' ? cp + 32 : cp;
  const auto* end = std::end(kLowercaseRanges);
  const auto* it = std::upper_bound(std::begin(kLowercaseRanges), end, cp,
                                    [](char32_t v, const uint32_t(&r)[4]) { return v < r[0]; });
  if (it == std::begin(kLowercaseRanges)) return cp;
  const auto& r = *(it - 1);
  if (cp > r[1] || (cp - r[0]) % r[3] != 0) return cp;
  return char32_t(uint32_t(cp) + r[2]);  // r[2] is the offset modulo 2^32
}

}  // namespace

// Hugging Face only ever normalizes valid strings: invalid UTF-8 is returned unchanged.
// Every code point below U+0300 is a starter that NFC leaves alone (UTF-8 lead byte < 0xCC);
// nothing in ASCII decomposes.
std::string nfc(std::string_view text) {
  if (all_below(text, 0xCC) || !is_valid_utf8(text)) return std::string(text);
  return normalize_form(text, false, true);
}
std::string nfd(std::string_view text) {
  if (all_below(text, 0x80) || !is_valid_utf8(text)) return std::string(text);
  return normalize_form(text, false, false);
}
std::string nfkc(std::string_view text) {
  if (all_below(text, 0x80) || !is_valid_utf8(text)) return std::string(text);
  return normalize_form(text, true, true);
}
std::string nfkd(std::string_view text) {
  if (all_below(text, 0x80) || !is_valid_utf8(text)) return std::string(text);
  return normalize_form(text, true, false);
}

std::string lowercase(std::string_view text) {
  if (all_below(text, 0x80) || !is_valid_utf8(text)) {
    std::string s(text);
    for (char& c : s)
      if (c >= 'A' && c <= 'Z') c = char(c + 32);
    return s;
  }
  std::u32string out;
  for (const char32_t cp : code_points(text)) {
    if (cp == 0x130) {  // İ: the one char whose lowercase is two (i + combining dot above)
      out += U"i\u0307";
      continue;
    }
    out += lower_char(cp);
  }
  return to_utf8(out, text.size());
}



}  // namespace sp::tok
