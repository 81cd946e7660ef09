#include "tokenize/unicode.h"

namespace sp::tok {

namespace {

// Length and validity of the UTF-8 sequence at s[i] following RFC 3629 (no overlongs, no
// surrogates, <= U+10FFFF). Returns 0 when invalid; `maximal` is the length of the longest valid
// prefix (>= 1), which is what from_utf8_lossy replaces by one U+FFFD.
size_t utf8_valid_len(std::string_view s, size_t i, size_t* maximal) {
  const auto b0 = static_cast<uint8_t>(s[i]);
  *maximal = 1;
  if (b0 < 0x80) return 1;
  size_t need = 0;
  uint8_t lo = 0x80, hi = 0xBF;
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    need = 1;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    need = 2;
    if (b0 == 0xE0) lo = 0xA0;
    if (b0 == 0xED) hi = 0x9F;
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    need = 3;
    if (b0 == 0xF0) lo = 0x90;
    if (b0 == 0xF4) hi = 0x8F;
  } else {
    return 0;
  }
  for (size_t k = 1; k <= need; ++k) {
    if (i + k >= s.size()) return 0;
    const auto b = static_cast<uint8_t>(s[i + k]);
    if (k == 1 ? (b < lo || b > hi) : (b < 0x80 || b > 0xBF)) return 0;
    *maximal = k + 1;
  }
  return need + 1;
}

}  // namespace

size_t utf8_char_len(std::string_view s, size_t i) {
  size_t maximal = 0;
  const size_t n = utf8_valid_len(s, i, &maximal);
  return n == 0 ? 1 : n;
}

void append_utf8(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

bool is_valid_utf8(std::string_view bytes) {
  size_t maximal = 0;
  for (size_t i = 0; i < bytes.size();) {
    const size_t n = utf8_valid_len(bytes, i, &maximal);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

std::string utf8_lossy(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size());
  size_t maximal = 0;
  for (size_t i = 0; i < bytes.size();) {
    const size_t n = utf8_valid_len(bytes, i, &maximal);
    if (n == 0) {
      out += "\xEF\xBF\xBD";
      i += maximal;
    } else {
      out.append(bytes.substr(i, n));
      i += n;
    }
  }
  return out;
}

ByteLevelMap::ByteLevelMap() {
  dec_.fill(-1);
  int extra = 0;
  for (int b = 0; b < 256; ++b) {
    const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
    const char32_t cp = printable ? static_cast<char32_t>(b) : static_cast<char32_t>(256 + extra++);
    append_utf8(enc_[static_cast<size_t>(b)], cp);
    dec_[cp] = static_cast<int16_t>(b);
  }
}

std::string ByteLevelMap::encode(std::string_view bytes) const {
  std::string out;
  out.reserve(bytes.size() * 2);
  for (const char c : bytes) out += enc_[static_cast<uint8_t>(c)];
  return out;
}

bool ByteLevelMap::decode(std::string_view piece, std::string& out) const {
  const size_t start = out.size();
  for (size_t i = 0; i < piece.size();) {
    const auto b0 = static_cast<uint8_t>(piece[i]);
    char32_t cp = 0;
    if (b0 < 0x80) {
      cp = b0;
      i += 1;
    } else if ((b0 & 0xE0) == 0xC0 && i + 1 < piece.size()) {
      cp = ((b0 & 0x1Fu) << 6) | (static_cast<uint8_t>(piece[i + 1]) & 0x3Fu);
      i += 2;
    } else {
      cp = 0x200;  // 3- or 4-byte chars are never in the map
      i += 1;
    }
    if (cp >= dec_.size() || dec_[cp] < 0) {
      out.resize(start);
      return false;
    }
    out += static_cast<char>(dec_[cp]);
  }
  return true;
}

const ByteLevelMap& byte_level_map() {
  static const ByteLevelMap map;
  return map;
}

}  // namespace sp::tok
