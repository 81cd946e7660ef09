#include "tokenize/unicode_nfc.h"

#include <algorithm>
#include <cstdint>
#include <iterator>
#include <unordered_map>
#include <vector>

#include "tokenize/unicode.h"

namespace sp::tok {

namespace {

#include "tokenize/unicode_nfc_tables.inc"

// Hangul syllables compose and decompose arithmetically (Unicode ch. 3.12).
constexpr char32_t kSBase = 0xAC00, kLBase = 0x1100, kVBase = 0x1161, kTBase = 0x11A7;
constexpr char32_t kLCount = 19, kVCount = 21, kTCount = 28, kNCount = kVCount * kTCount, kSCount = kLCount * kNCount;

struct Tables {
  std::unordered_map<char32_t, std::pair<char32_t, char32_t>> decomp;  // second = 0: singleton
  std::unordered_map<uint64_t, char32_t> compose;
};

const Tables& tables() {
  static const Tables t = [] {
    Tables t;
    for (const auto& d : kDecompositions) t.decomp.emplace(d[0], std::make_pair(d[1], d[2]));
    for (const auto& c : kCompositions) t.compose.emplace((uint64_t{c[0]} << 32) | c[1], c[2]);
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

void decompose(char32_t cp, std::u32string& out) {
  if (cp >= kSBase && cp < kSBase + kSCount) {
    const char32_t s = cp - kSBase;
    out += kLBase + s / kNCount;
    out += kVBase + (s % kNCount) / kTCount;
    if (s % kTCount != 0) out += kTBase + s % kTCount;
    return;
  }
  const auto& d = tables().decomp;
  const auto it = d.find(cp);
  if (it == d.end()) {
    out += cp;
    return;
  }
  decompose(it->second.first, out);
  if (it->second.second != 0) decompose(it->second.second, out);
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

}  // namespace

std::string nfc(std::string_view text) {
  // Every code point below U+0300 is a starter that NFC leaves alone; its UTF-8 lead byte is < 0xCC.
  if (std::all_of(text.begin(), text.end(), [](char c) { return static_cast<uint8_t>(c) < 0xCC; }) ||
      !is_valid_utf8(text))
    return std::string(text);
  std::u32string d;
  d.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    const size_t n = utf8_char_len(text, i);
    auto b = [&](size_t k) { return static_cast<char32_t>(static_cast<uint8_t>(text[i + k])); };
    char32_t cp = n == 1   ? b(0)
                  : n == 2 ? ((b(0) & 0x1F) << 6) | (b(1) & 0x3F)
                  : n == 3 ? ((b(0) & 0x0F) << 12) | ((b(1) & 0x3F) << 6) | (b(2) & 0x3F)
                           : ((b(0) & 0x07) << 18) | ((b(1) & 0x3F) << 12) | ((b(2) & 0x3F) << 6) | (b(3) & 0x3F);
    decompose(cp, d);
    i += n;
  }
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
  std::string s;
  s.reserve(text.size());
  for (const char32_t cp : out) append_utf8(s, cp);
  return s;
}

}  // namespace sp::tok
