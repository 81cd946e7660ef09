#pragma once
// Open-addressing hash map from a token pair (two int32 ids packed in a uint64) to its merge.
// The merge loop does a few lookups per input char; std::unordered_map's node chasing made the
// 1.3 MB SentencePiece benchmark miss its 1 s goal.
#include <cstdint>
#include <vector>

namespace sp::tok {

struct BpeMerge {
  int32_t rank;
  int32_t merged;
};

class BpePairMap {
 public:
  static uint64_t key(int32_t a, int32_t b) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
  }

  // Inserts or overwrites.
  void set(uint64_t k, BpeMerge m) {
    if ((size_ + 1) * 2 > slots_.size()) grow();
    Slot& s = slots_[probe(k)];
    if (s.key == kEmpty) ++size_;
    s = Slot{k, m};
  }

  const BpeMerge* find(uint64_t k) const {
    if (slots_.empty()) return nullptr;
    const Slot& s = slots_[probe(k)];
    return s.key == kEmpty ? nullptr : &s.merge;
  }

  void reserve(size_t n) {
    while (slots_.size() < n * 2) grow();
  }

 private:
  static constexpr uint64_t kEmpty = ~uint64_t{0};  // never a key: ids are non-negative int32
  struct Slot {
    uint64_t key = kEmpty;
    BpeMerge merge{0, 0};
  };

  size_t probe(uint64_t k) const {
    const size_t mask = slots_.size() - 1;
    size_t i = static_cast<size_t>((k * 0x9E3779B97F4A7C15ull) >> 20) & mask;
    while (slots_[i].key != kEmpty && slots_[i].key != k) i = (i + 1) & mask;
    return i;
  }

  void grow() {
    std::vector<Slot> old = std::move(slots_);
    slots_.assign(old.empty() ? 1024 : old.size() * 2, Slot{});
    for (const Slot& s : old)
      if (s.key != kEmpty) slots_[probe(s.key)] = s;
  }

  std::vector<Slot> slots_;
  size_t size_ = 0;
};

}  // namespace sp::tok
