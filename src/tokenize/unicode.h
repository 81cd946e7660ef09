#pragma once
// UTF-8 helpers and the GPT-2 byte <-> printable-char map used by byte-level BPE.
// Malformed UTF-8 never throws here: a bad byte counts as a one-byte "character", so the
// byte-fallback / byte-level paths still see every input byte.
#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace sp::tok {

// Length in bytes of the character starting at s[i] (1 for a malformed or truncated sequence).
size_t utf8_char_len(std::string_view s, size_t i);

void append_utf8(std::string& out, char32_t cp);

// Rust's String::from_utf8_lossy: each maximal invalid subsequence becomes U+FFFD. Hugging Face
// decoders return Rust strings, so their output of invalid bytes is exactly this.
std::string utf8_lossy(std::string_view bytes);
bool is_valid_utf8(std::string_view bytes);

// GPT-2's bytes_to_unicode(): printable Latin-1 bytes map to themselves, the other 68 bytes to
// U+0100.. in byte order. The tokenizer files spell byte-level pieces in these chars.
class ByteLevelMap {
 public:
  ByteLevelMap();
  // UTF-8 spelling of the char that stands for byte b.
  const std::string& encode_byte(uint8_t b) const { return enc_[b]; }
  std::string encode(std::string_view bytes) const;
  // Maps every char of `piece` back to its byte; false (out untouched) if a char is not in the map.
  bool decode(std::string_view piece, std::string& out) const;

 private:
  std::array<std::string, 256> enc_;
  std::array<int16_t, 512> dec_;  // code point (< 0x200) -> byte, -1 if none
};

const ByteLevelMap& byte_level_map();

}  // namespace sp::tok
