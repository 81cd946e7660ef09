#pragma once
// The BPE model shared by every tokenizer format: a vocabulary, a table of pair merges with a
// rank (lower merges first) and the merge loop. Two input alphabets:
//  * byte-level (GPT-2 family): a word is raw bytes, each byte starts as its own token;
//  * char-level (SentencePiece family, llama2.c): each UTF-8 char starts as its token.
// A char (byte-level: the char a byte maps to) without a piece becomes, as in Hugging Face's
// BPE::merge_word, the <0xHH> pieces of its UTF-8 bytes (byte fallback), else <unk> (optionally
// fused), else nothing: a byte-level vocabulary may lack bytes (SmolLM2 lacks 0x04), and HF drops them.
// The merge loop is Hugging Face's: a min-heap of (rank, position) over adjacent pairs on a
// linked list, so equal ranks merge leftmost first and a word of n chars costs O(n log n).
#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "tokenize/bpe_pair_map.h"

namespace sp::tok {

struct BpeOptions {
  bool byte_level = false;     // word = raw bytes, pieces spelled in the GPT-2 byte map
  bool byte_fallback = false;  // unknown char -> its <0xHH> tokens
  bool fuse_unk = false;       // consecutive unknown chars -> one <unk>
  bool ignore_merges = false;  // a word that is itself a piece is emitted whole (LLaMA-3)
  int32_t unk_id = -1;         // -1: unknown chars are dropped (as HF does without unk_token)
  // unk_token named but not in the vocabulary (unk_id -1): HF loads such a file and fails only
  // when a char needs the unk token; so do we.
  std::string missing_unk;
};

class BpeModel {
 public:
  // pieces: id -> spelling as written in the tokenizer file ("" for holes in the id range);
  // aliases: further spellings of an id (a vocabulary may give two pieces one id; HF loads it).
  BpeModel(std::vector<std::string> pieces, BpeOptions opts, const std::string& where,
           const std::vector<std::pair<std::string, int32_t>>& aliases = {});

  // Merge of (left, right) into `merged` with priority `rank`; a later add of the same pair wins.
  void add_merge(int32_t left, int32_t right, int32_t rank, int32_t merged);
  // Hugging Face merges: rank = index in `merges`; each pair's concatenation must be a piece.
  void add_merges_by_rank(const std::vector<std::pair<std::string, std::string>>& merges);
  // llama2.c / SentencePiece scores: every piece that splits into two pieces is a merge whose
  // priority is the piece's score (higher first; equal scores merge leftmost first). Pieces with
  // score <= -1e10 never merge (llama2.c's initial best score).
  void add_merges_by_score(const std::vector<float>& scores);

  int32_t find(std::string_view piece) const;  // -1 if absent
  const std::string& piece(int32_t id) const { return pieces_[static_cast<size_t>(id)]; }
  int32_t size() const { return static_cast<int32_t>(pieces_.size()); }
  const BpeOptions& options() const { return opts_; }

  // Byte-level only: the bytes with no piece (empty when every byte has one).
  const std::vector<uint8_t>& missing_bytes() const { return missing_bytes_; }
  // How many bytes of `word` have no piece and reach the merge loop (a word that ignore_merges
  // takes whole as one piece loses none); counts[b] += the occurrences of byte b.
  int64_t count_missing_bytes(std::string_view word, std::array<int64_t, 256>& counts) const;

  // Appends the ids of one pre-tokenized word.
  void encode_word(std::string_view word, std::vector<int32_t>& out) const;

  struct StringHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  // Ids of words already encoded during one encode() call (natural text repeats its words).
  using WordCache = std::unordered_map<std::string, std::vector<int32_t>, StringHash, std::equal_to<>>;
  // Same ids as encode_word, faster: the word is cut where no merge can cross (see chunk_sep_)
  // and short chunks go through `cache`.
  void encode_word_cached(std::string_view word, WordCache& cache, std::vector<int32_t>& out) const;

 private:
  void initial_symbols(std::string_view word, std::vector<int32_t>& ids) const;
  // Whole-word lookup for ignore_merges (-1 when the word is not one piece).
  int32_t whole_word(std::string_view word) const;
  void merge_all(std::vector<int32_t>& ids) const;

  std::vector<std::string> pieces_;
  std::unordered_map<std::string, int32_t, StringHash, std::equal_to<>> ids_;
  BpePairMap merges_;
  BpeOptions opts_;
  int32_t ascii_ids_[128];  // char-level: the piece of each ASCII char (-1 if absent)
  int32_t byte_ids_[256];   // byte-level: the token of each byte; char-level: <0xHH> (-1 if absent)
  // Byte-level: the <0xHH> pieces of the UTF-8 bytes of the char standing for a byte without a
  // piece (empty when one of them is missing too: then unk or nothing).
  std::array<std::vector<int32_t>, 256> byte_level_fallback_;
  std::vector<uint8_t> missing_bytes_;
  std::string where_;
  // Char-level only: a piece spelling ("▁" or " ") that no other piece holds except in a leading
  // run. Then no token can span "x▁" (x not the separator), so the word can be cut before such a
  // separator and the parts merged independently with exactly the same result. SentencePiece
  // vocabularies have this property; a whole LLaMA-2 text is otherwise one 1.3 MB "word".
  std::string chunk_sep_;
};

}  // namespace sp::tok
