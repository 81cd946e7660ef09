#pragma once
// A stand-in tokenizer for the dataset / sampling tests: one id per UTF-8 byte (id = byte value),
// so expected ids can be computed from the text alone, without the real BPE tokenizer.
#include <atomic>
#include <string>

#include "tokenize/tokenizer.h"

namespace sp::test {

class ByteTokenizer final : public tok::Tokenizer {
 public:
  std::vector<int32_t> encode(std::string_view text) const override {
    ++calls_;
    std::vector<int32_t> ids;
    ids.reserve(text.size());
    for (char c : text) ids.push_back(static_cast<unsigned char>(c));
    return ids;
  }
  std::string decode(std::span<const int32_t> ids) const override {
    std::string s;
    for (int32_t i : ids) s.push_back(static_cast<char>(i));
    return s;
  }
  int vocab_size() const override { return 257; }  // 256 bytes + BOS
  int bos_id() const override { return 256; }
  int eos_id() const override { return -1; }
  int64_t calls() const { return calls_; }

 private:
  mutable std::atomic<int64_t> calls_{0};
};

// FNV-1a 64 over the ids' little-endian bytes: a compact fingerprint of a window.
inline uint64_t fnv1a_ids(const std::vector<int32_t>& ids) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (int32_t v : ids)
    for (int k = 0; k < 4; ++k) h = (h ^ ((static_cast<uint32_t>(v) >> (8 * k)) & 0xFF)) * 0x100000001b3ULL;
  return h;
}

}  // namespace sp::test
