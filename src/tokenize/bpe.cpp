#include "tokenize/bpe.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <queue>

#include "core/error.h"
#include "tokenize/unicode.h"

namespace sp::tok {

BpeModel::BpeModel(std::vector<std::string> pieces, BpeOptions opts, const std::string& where,
                   const std::vector<std::pair<std::string, int32_t>>& aliases)
    : pieces_(std::move(pieces)), opts_(std::move(opts)), where_(where) {
  ids_.reserve(pieces_.size() + aliases.size());
  for (size_t i = 0; i < pieces_.size(); ++i) {
    // First id wins for duplicate spellings (llama2.c's sorted lookup is unspecified there).
    if (!pieces_[i].empty()) ids_.emplace(pieces_[i], static_cast<int32_t>(i));
  }
  for (const auto& [spelling, id] : aliases) ids_.emplace(spelling, id);
  for (int c = 0; c < 128; ++c) ascii_ids_[c] = find(std::string(1, static_cast<char>(c)));
  for (int b = 0; b < 256; ++b) {
    const auto byte = static_cast<uint8_t>(b);
    byte_ids_[b] = opts_.byte_level ? find(byte_level_map().encode_byte(byte)) : find(fmt::format("<0x{:02X}>", b));
    if (!opts_.byte_level || byte_ids_[b] >= 0) continue;
    missing_bytes_.push_back(byte);
    // HF's byte fallback sees the char the byte stands for, so it spells that char's UTF-8 bytes.
    std::vector<int32_t> fallback;
    for (const char c : byte_level_map().encode_byte(byte)) {
      const int32_t id = find(fmt::format("<0x{:02X}>", static_cast<uint8_t>(c)));
      if (id < 0) {
        fallback.clear();
        break;
      }
      fallback.push_back(id);
    }
    byte_level_fallback_[b] = std::move(fallback);
  }
  if (!opts_.byte_level) {
    for (const std::string sep : {"\xE2\x96\x81", " "}) {
      if (find(sep) < 0) continue;
      const bool clean = std::none_of(ids_.begin(), ids_.end(), [&](const auto& entry) {
        const std::string& p = entry.first;
        size_t b = 0;
        while (p.compare(b, sep.size(), sep) == 0) b += sep.size();
        return p.find(sep, b) != std::string::npos;
      });
      if (clean) {
        chunk_sep_ = sep;
        break;
      }
    }
  }
  SP_REQUIRE(opts_.unk_id < static_cast<int32_t>(pieces_.size()), "{}: unk id {} out of the vocabulary", where_,
             opts_.unk_id);
}

int32_t BpeModel::find(std::string_view piece) const {
  const auto it = ids_.find(piece);
  return it == ids_.end() ? -1 : it->second;
}

void BpeModel::add_merge(int32_t left, int32_t right, int32_t rank, int32_t merged) {
  merges_.set(BpePairMap::key(left, right), BpeMerge{rank, merged});
}

void BpeModel::add_merges_by_rank(const std::vector<std::pair<std::string, std::string>>& merges) {
  merges_.reserve(merges.size());
  for (size_t r = 0; r < merges.size(); ++r) {
    const auto& [a, b] = merges[r];
    const int32_t ia = find(a), ib = find(b), im = find(a + b);
    SP_REQUIRE(ia >= 0 && ib >= 0, "{}: merge {} '{} {}' uses a piece missing from the vocabulary", where_, r, a, b);
    SP_REQUIRE(im >= 0, "{}: merge {} '{} {}' makes '{}{}', missing from the vocabulary", where_, r, a, b, a, b);
    add_merge(ia, ib, static_cast<int32_t>(r), im);
  }
}

void BpeModel::add_merges_by_score(const std::vector<float>& scores) {
  SP_REQUIRE(scores.size() == pieces_.size(), "{}: {} scores for {} pieces", where_, scores.size(), pieces_.size());
  // Rank = position of the score among the distinct scores, highest first.
  std::vector<float> distinct(scores);
  std::sort(distinct.begin(), distinct.end(), std::greater<>());
  distinct.erase(std::unique(distinct.begin(), distinct.end()), distinct.end());
  for (size_t id = 0; id < pieces_.size(); ++id) {
    if (!(scores[id] > -1e10f) || find(pieces_[id]) != static_cast<int32_t>(id)) continue;
    const auto rank = static_cast<int32_t>(
        std::lower_bound(distinct.begin(), distinct.end(), scores[id], std::greater<>()) - distinct.begin());
    const std::string_view p = pieces_[id];
    for (size_t cut = 1; cut < p.size(); ++cut) {
      const int32_t a = find(p.substr(0, cut)), b = find(p.substr(cut));
      if (a >= 0 && b >= 0) add_merge(a, b, rank, static_cast<int32_t>(id));
    }
  }
}

void BpeModel::initial_symbols(std::string_view word, std::vector<int32_t>& ids) const {
  // Hugging Face BPE::merge_word: each char's piece, else its <0xHH> pieces (byte fallback), else
  // unk (consecutive ones fused with fuse_unk), else nothing.
  bool pending_unk = false;
  auto known = [&](int32_t id) {
    if (pending_unk) ids.push_back(opts_.unk_id);
    pending_unk = false;
    ids.push_back(id);
  };
  auto unknown = [&](const std::vector<int32_t>& fallback) {
    if (opts_.byte_fallback && !fallback.empty()) {
      // HF leaves a pending unk open across byte-fallback chars (they do not flush it).
      ids.insert(ids.end(), fallback.begin(), fallback.end());
      return;
    }
    if (opts_.unk_id < 0) {
      SP_REQUIRE(opts_.missing_unk.empty(),
                 "{}: model.unk_token '{}' is not in model.vocab, and the text holds a character without a piece "
                 "(Hugging Face tokenizers fails here too)",
                 where_, opts_.missing_unk);
      return;
    }
    if (pending_unk && !opts_.fuse_unk) ids.push_back(opts_.unk_id);
    pending_unk = true;
  };
  if (opts_.byte_level) {
    for (const char c : word) {
      const auto b = static_cast<uint8_t>(c);
      if (byte_ids_[b] >= 0)
        known(byte_ids_[b]);
      else
        unknown(byte_level_fallback_[b]);
    }
  } else {
    std::vector<int32_t> fallback;
    for (size_t i = 0; i < word.size();) {
      const auto b0 = static_cast<uint8_t>(word[i]);
      const size_t n = b0 < 0x80 ? 1 : utf8_char_len(word, i);
      const std::string_view ch = word.substr(i, n);
      i += n;
      if (const int32_t id = b0 < 0x80 ? ascii_ids_[b0] : find(ch); id >= 0) {
        known(id);
        continue;
      }
      fallback.clear();
      for (const char c : ch) fallback.push_back(byte_ids_[static_cast<uint8_t>(c)]);
      if (std::find(fallback.begin(), fallback.end(), -1) != fallback.end()) fallback.clear();
      unknown(fallback);
    }
  }
  if (pending_unk) ids.push_back(opts_.unk_id);
}

int64_t BpeModel::count_missing_bytes(std::string_view word, std::array<int64_t, 256>& counts) const {
  if (missing_bytes_.empty() || whole_word(word) >= 0) return 0;
  int64_t n = 0;
  for (const char c : word) {
    const auto b = static_cast<uint8_t>(c);
    if (byte_ids_[b] < 0) {
      ++counts[b];
      ++n;
    }
  }
  return n;
}

int32_t BpeModel::whole_word(std::string_view word) const {
  if (!opts_.ignore_merges) return -1;
  return opts_.byte_level ? find(byte_level_map().encode(word)) : find(word);
}

void BpeModel::merge_all(std::vector<int32_t>& ids) const {
  const auto n = static_cast<int32_t>(ids.size());
  if (n < 2) return;
  // Heap entries pack (rank, position) into one uint64 so the min is the lowest rank, leftmost:
  // HF's Merge ordering, in half the bytes (the heap is as long as the word).
  auto key = [](int32_t rank, int32_t pos) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(rank)) << 32) | static_cast<uint32_t>(pos);
  };
  std::vector<int32_t> prev(static_cast<size_t>(n)), next(static_cast<size_t>(n));
  std::vector<uint64_t> initial;
  initial.reserve(static_cast<size_t>(n));
  for (int32_t i = 0; i < n; ++i) {
    prev[static_cast<size_t>(i)] = i - 1;
    next[static_cast<size_t>(i)] = i + 1 < n ? i + 1 : -1;
    if (i + 1 < n) {
      if (const BpeMerge* m =
              merges_.find(BpePairMap::key(ids[static_cast<size_t>(i)], ids[static_cast<size_t>(i) + 1])))
        initial.push_back(key(m->rank, i));
    }
  }
  std::priority_queue<uint64_t, std::vector<uint64_t>, std::greater<>> heap(std::greater<>(), std::move(initial));
  auto push_pair = [&](int32_t pos, int32_t right) {
    if (const BpeMerge* m =
            merges_.find(BpePairMap::key(ids[static_cast<size_t>(pos)], ids[static_cast<size_t>(right)])))
      heap.push(key(m->rank, pos));
  };
  constexpr int32_t kRemoved = -1;
  while (!heap.empty()) {
    const uint64_t top = heap.top();
    heap.pop();
    const auto rank = static_cast<int32_t>(top >> 32);
    const auto pos = static_cast<int32_t>(top & 0xFFFFFFFFu);
    const auto p = static_cast<size_t>(pos);
    if (ids[p] == kRemoved || next[p] < 0) continue;
    const auto r = static_cast<size_t>(next[p]);
    // Stale entry: the pair here changed since it was queued. (A changed pair has another merged
    // piece; if it has the same rank its own entry has this very key, so merging now is the same.)
    const BpeMerge* m = merges_.find(BpePairMap::key(ids[p], ids[r]));
    if (m == nullptr || m->rank != rank) continue;
    ids[p] = m->merged;
    ids[r] = kRemoved;
    next[p] = next[r];
    if (next[p] >= 0) prev[static_cast<size_t>(next[p])] = pos;
    if (prev[p] >= 0) push_pair(prev[p], pos);
    if (next[p] >= 0) push_pair(pos, next[p]);
  }
  std::erase(ids, kRemoved);
}

void BpeModel::encode_word(std::string_view word, std::vector<int32_t>& out) const {
  if (word.empty()) return;
  if (const int32_t id = whole_word(word); id >= 0) {
    out.push_back(id);
    return;
  }
  std::vector<int32_t> ids;
  ids.reserve(word.size());
  initial_symbols(word, ids);
  merge_all(ids);
  out.insert(out.end(), ids.begin(), ids.end());
}

void BpeModel::encode_word_cached(std::string_view word, WordCache& cache, std::vector<int32_t>& out) const {
  constexpr size_t kMaxCached = 256;
  auto encode_chunk = [&](std::string_view chunk) {
    if (chunk.size() > kMaxCached) {
      encode_word(chunk, out);
      return;
    }
    auto it = cache.find(chunk);
    if (it == cache.end()) {
      it = cache.emplace(std::string(chunk), std::vector<int32_t>{}).first;
      encode_word(chunk, it->second);
    }
    out.insert(out.end(), it->second.begin(), it->second.end());
  };
  if (chunk_sep_.empty() || word.size() <= kMaxCached || opts_.ignore_merges) {
    encode_chunk(word);
    return;
  }
  const std::string_view sep = chunk_sep_;
  size_t begin = 0;
  for (size_t hit = word.find(sep, 1); hit != std::string_view::npos; hit = word.find(sep, hit + sep.size())) {
    const bool after_sep = hit >= sep.size() && word.compare(hit - sep.size(), sep.size(), sep) == 0;
    if (after_sep || hit == begin) continue;
    encode_chunk(word.substr(begin, hit - begin));
    begin = hit;
  }
  encode_chunk(word.substr(begin));
}

}  // namespace sp::tok
