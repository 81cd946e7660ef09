// Pieces of the tokenizers against independent references: the Unicode Standard's U+FFFD
// substitution example, GPT-2's published byte map, a naive O(n^2) merge loop written here,
// and ids known from Hugging Face's GPT-2 / LLaMA-2 tokenizers.
#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <random>

#include "core/error.h"
#include "test_tokenizer_util.h"
#include "test_util.h"
#include "tokenize/bpe.h"
#include "tokenize/tokenizer.h"
#include "tokenize/tokenizer_hf.h"
#include "tokenize/tokenizer_steps.h"
#include "tokenize/unicode.h"
#include "tokenize/unicode_nfc.h"

namespace sp::tok {
namespace {

TEST(TokenizerUnicode, LossyDecodingFollowsUnicodeMaximalSubparts) {
  // The Unicode Standard, ch. 3 "U+FFFD Substitution of Maximal Subparts" (Table 3-8).
  const std::string bytes = "\x61\xF1\x80\x80\xE1\x80\xC2\x62\x80\x63\x80\xBF\x64";
  const std::string fffd = "\xEF\xBF\xBD";
  EXPECT_EQ(utf8_lossy(bytes), "a" + fffd + fffd + fffd + "b" + fffd + "c" + fffd + fffd + "d");
  EXPECT_EQ(utf8_lossy("\xC0\xAF"), fffd + fffd);             // overlong: each byte alone
  EXPECT_EQ(utf8_lossy("\xED\xA0\x80"), fffd + fffd + fffd);  // surrogate
  EXPECT_EQ(utf8_lossy("h\xC3\xA9"), "h\xC3\xA9");
}

TEST(TokenizerUnicode, Gpt2ByteMap) {
  const auto& m = byte_level_map();
  EXPECT_EQ(m.encode_byte(' '), "\xC4\xA0");   // U+0120 'Ġ'
  EXPECT_EQ(m.encode_byte('\n'), "\xC4\x8A");  // U+010A 'Ċ'
  EXPECT_EQ(m.encode_byte(0x00), "\xC4\x80");  // U+0100
  EXPECT_EQ(m.encode_byte(0xAD), "\xC5\x83");  // U+0143 (soft hyphen is the last unprintable)
  EXPECT_EQ(m.encode_byte('a'), "a");
  std::string all, back;
  for (int b = 0; b < 256; ++b) all += static_cast<char>(b);
  ASSERT_TRUE(m.decode(m.encode(all), back));
  EXPECT_EQ(back, all);
}

// Expected values: CPython's unicodedata.normalize("NFC", ...), an independent implementation.
TEST(TokenizerUnicode, NfcMatchesPython) {
  EXPECT_EQ(nfc("e\xCC\x81"), "\xC3\xA9");                                 // e + U+0301 -> U+00E9
  EXPECT_EQ(nfc("\xE1\x84\x80\xE1\x85\xA1\xE1\x86\xA8"), "\xEA\xB0\x81");  // Hangul L V T -> U+AC01
  EXPECT_EQ(nfc("\xE2\x84\xAB"), "\xC3\x85");                              // Angstrom sign -> U+00C5
  EXPECT_EQ(nfc("a\xCC\x81\xCC\xA8"), "\xC4\x85\xCC\x81");                 // reordered: U+0105 U+0301
  EXPECT_EQ(nfc("a\xCC\xA8\xCC\x81"), "\xC4\x85\xCC\x81");
  EXPECT_EQ(nfc("\xE0\xAD\x87\xE0\xAC\xBE"), "\xE0\xAD\x8B");      // two starters compose
  EXPECT_EQ(nfc("\xE1\xB8\x8B\xCC\xA3"), "\xE1\xB8\x8D\xCC\x87");  // U+1E0B U+0323
  EXPECT_EQ(nfc("q\xCC\x87\xCC\xA3"), "q\xCC\xA3\xCC\x87");
  EXPECT_EQ(nfc("\xEF\xA4\x80x"), "\xE8\xB1\x88x");  // CJK compatibility singleton
  EXPECT_EQ(nfc("\xCD\x84"), "\xCC\x88\xCC\x81");    // excluded from composition
  EXPECT_EQ(nfc("A\xCC\x8A\xCC\x81 \xE1\x84\x80\xE1\x85\xA1 \xC3\xA9 \xE0\xA5\x98"),
            "\xC7\xBA \xEA\xB0\x80 \xC3\xA9 \xE0\xA4\x95\xE0\xA4\xBC");
  EXPECT_EQ(nfc("plain ASCII \xC3\xA9"), "plain ASCII \xC3\xA9");
}

// Oniguruma (tokenizers' regex engine) documents Unicode \s as 0009-000D, 0085, Zl, Zp, Zs. With
// NEL counted as space, GPT-2's pattern cuts "a NEL NEL b" as \s+(?!\S) then \s+ (PCRE2 alone
// would take both NELs as one ` ?[^\s\p{L}\p{N}]+` run).
TEST(TokenizerUnicode, SplitPatternTreatsNelAsSpaceLikeOniguruma) {
  PreTokenizerStep byte_level;
  byte_level.kind = PreTokenizerStep::Kind::kByteLevel;
  byte_level.add_prefix_space = false;
  std::vector<std::string> words;
  const std::string nel = "\xC2\x85", nbsp = "\xC2\xA0";
  pre_tokenize({byte_level}, "a" + nel + nel + "b " + nbsp + "c", true, words);
  EXPECT_EQ(words, (std::vector<std::string>{"a", nel, nel, "b", " ", nbsp, "c"}));
}

// The textbook BPE loop: repeatedly merge the lowest-rank adjacent pair, leftmost on ties.
std::vector<int32_t> naive_bpe(std::vector<int32_t> ids,
                               const std::map<std::pair<int32_t, int32_t>, std::pair<int32_t, int32_t>>& merges) {
  for (;;) {
    int32_t best_rank = INT32_MAX;
    size_t best = 0;
    for (size_t i = 0; i + 1 < ids.size(); ++i) {
      const auto it = merges.find({ids[i], ids[i + 1]});
      if (it != merges.end() && it->second.first < best_rank) {
        best_rank = it->second.first;
        best = i;
      }
    }
    if (best_rank == INT32_MAX) return ids;
    ids[best] = merges.at({ids[best], ids[best + 1]}).second;
    ids.erase(ids.begin() + static_cast<ptrdiff_t>(best) + 1);
  }
}

TEST(TokenizerBpe, HeapMergeLoopEqualsNaiveLoop) {
  // Alphabet a..d; random merges of existing pieces, some sharing a rank (score-style ties).
  std::mt19937 rng(7);
  std::vector<std::string> pieces{"a", "b", "c", "d"};
  std::map<std::pair<int32_t, int32_t>, std::pair<int32_t, int32_t>> merges;
  std::map<std::string, int32_t> index{{"a", 0}, {"b", 1}, {"c", 2}, {"d", 3}};
  std::vector<std::tuple<int32_t, int32_t, int32_t, int32_t>> list;
  for (int k = 0; k < 60; ++k) {
    const auto l = static_cast<int32_t>(rng() % pieces.size()), r = static_cast<int32_t>(rng() % pieces.size());
    if (merges.count({l, r})) continue;
    const std::string m = pieces[static_cast<size_t>(l)] + pieces[static_cast<size_t>(r)];
    int32_t id;
    if (auto it = index.find(m); it != index.end()) {
      id = it->second;
    } else {
      id = static_cast<int32_t>(pieces.size());
      pieces.push_back(m);
      index[m] = id;
    }
    const int32_t rank = k / 3;
    merges[{l, r}] = {rank, id};
    list.emplace_back(l, r, rank, id);
  }
  BpeModel model(pieces, BpeOptions{}, "test");
  for (const auto& [l, r, rank, id] : list) model.add_merge(l, r, rank, id);
  for (int trial = 0; trial < 50; ++trial) {
    std::string word;
    const size_t n = 1 + rng() % 2000;
    for (size_t i = 0; i < n; ++i) word += static_cast<char>('a' + rng() % 4);
    std::vector<int32_t> init;
    for (const char c : word) init.push_back(c - 'a');
    std::vector<int32_t> got;
    model.encode_word(word, got);
    ASSERT_EQ(got, naive_bpe(init, merges)) << "trial " << trial;
  }
}

TEST(TokenizerBpe, LongWordsAreNotQuadratic) {
  SP_REQUIRE_SHARED(llama, "data/tokenizers/llama2/tokenizer.json");
  SP_REQUIRE_SHARED(vocab, "data/tokenizers/gpt2/encoder.json");
  SP_REQUIRE_SHARED(merges, "data/tokenizers/gpt2/vocab.bpe");
  std::mt19937 rng(1);
  std::string word;  // 100k letters, no space: one pre-tokenized word for both models
  for (int i = 0; i < 100000; ++i) word += static_cast<char>('a' + rng() % 26);
  for (const auto& tok : {Tokenizer::from_tokenizer_json(llama), Tokenizer::from_vocab_merges(vocab, merges)}) {
    const auto t0 = std::chrono::steady_clock::now();
    const auto ids = tok->encode(word);
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    EXPECT_LT(s, 5.0) << "a quadratic merge loop takes minutes here";
    EXPECT_EQ(tok->decode(ids), word);
  }
  // Long runs the split pattern must take in one match (PCRE2 JIT stack) and BPE in one word.
  const auto gpt2 = Tokenizer::from_vocab_merges(vocab, merges);
  const std::vector<std::string> runs = {std::string(200000, ' '), std::string(200000, '\n'),
                                         std::string(200000, '!') + "x"};
  for (const std::string& run : runs) {
    EXPECT_EQ(gpt2->decode(gpt2->encode(run)), run);
  }
}

// The chunked + cached path cuts SentencePiece text before "▁" runs; it must equal merging the
// whole text as one word (what tokenizers does when there is no pre-tokenizer).
TEST(TokenizerBpe, ChunkedEncodingEqualsWholeWord) {
  SP_REQUIRE_SHARED(llama, "data/tokenizers/llama2/tokenizer.json");
  SP_REQUIRE_SHARED(wiki, "data/wikitext-2-raw/wiki.test.raw");
  const auto j = test::read_json(llama);
  std::vector<std::string> pieces(32000);
  for (const auto& [p, id] : j["model"]["vocab"].items()) pieces[id.get<size_t>()] = p;
  BpeOptions opts;
  opts.byte_fallback = true;
  opts.fuse_unk = true;
  opts.unk_id = 0;
  BpeModel model(pieces, opts, llama);
  std::vector<std::pair<std::string, std::string>> merges;
  for (const auto& m : j["model"]["merges"]) {
    if (m.is_array()) {
      merges.emplace_back(m[0], m[1]);
    } else {
      const auto s = m.get<std::string>();
      merges.emplace_back(s.substr(0, s.find(' ')), s.substr(s.find(' ') + 1));
    }
  }
  model.add_merges_by_rank(merges);
  std::string text = "\xE2\x96\x81" + test::read_text(wiki).substr(0, 200000);
  for (size_t p = 0; (p = text.find(' ', p)) != std::string::npos;) text.replace(p, 1, "\xE2\x96\x81");
  std::vector<int32_t> whole, chunked;
  model.encode_word(text, whole);
  BpeModel::WordCache cache;
  model.encode_word_cached(text, cache, chunked);
  EXPECT_GT(cache.size(), 1000u);  // the text really was cut
  EXPECT_EQ(whole, chunked);
}

TEST(TokenizerAdded, SpecialTokensSplitTheText) {
  SP_REQUIRE_SHARED(llama, "data/tokenizers/llama2/tokenizer.json");
  SP_REQUIRE_SHARED(vocab, "data/tokenizers/gpt2/encoder.json");
  SP_REQUIRE_SHARED(merges, "data/tokenizers/gpt2/vocab.bpe");
  SP_REQUIRE_SHARED(opt, "models/ref-opt/tokenizer.json");
  // LLaMA-2: each text segment gets its own "▁" prefix (the Prepend normalizer runs per segment).
  const auto l = Tokenizer::from_tokenizer_json(llama);
  EXPECT_EQ(l->encode("Hello<s>world</s>"), (std::vector<int32_t>{15043, 1, 3186, 2}));
  EXPECT_EQ(l->decode(std::vector<int32_t>{1, 15043, 3186, 2}), "Hello world");  // specials skipped
  // GPT-2 files: <|endoftext|> is GPT2TokenizerFast's special token ('a' = 64, 'b' = 65).
  const auto g = Tokenizer::from_vocab_merges(vocab, merges);
  EXPECT_EQ(g->encode("a<|endoftext|>b"), (std::vector<int32_t>{64, 50256, 65}));
  // ref-opt's tokenizer.json declares no added tokens: the same spelling is plain text.
  const auto o = Tokenizer::from_tokenizer_json(opt);
  EXPECT_EQ(o->encode("<|endoftext|>"), (std::vector<int32_t>{27, 91, 437, 1659, 5239, 91, 29}));
}

TEST(TokenizerDecode, ByteFallbackRunsAndInvalidBytes) {
  SP_REQUIRE_SHARED(llama, "data/tokenizers/llama2/tokenizer.json");
  const auto l = Tokenizer::from_tokenizer_json(llama);
  auto byte = [](int b) { return static_cast<int32_t>(b + 3); };                                   // <0x00> is id 3
  EXPECT_EQ(l->decode(std::vector<int32_t>{byte(0xE2), byte(0x82), byte(0xAC)}), "\xE2\x82\xAC");  // "€"
  EXPECT_EQ(l->decode(std::vector<int32_t>{byte(0xE2), byte(0x82)}),
            "\xEF\xBF\xBD\xEF\xBF\xBD");  // one U+FFFD per byte
}

TEST(TokenizerErrors, UnsupportedPartsNameTheFile) {
  const std::string unigram = R"({"model": {"type": "Unigram", "vocab": []}})";
  try {
    HfTokenizer::from_json_text(unigram, "some/tokenizer.json");
    FAIL() << "no error";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("some/tokenizer.json"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("Unigram"), std::string::npos) << e.what();
  }
  // Components outside the supported set are refused by name.
  for (const char* part : {R"("normalizer": {"type": "BertNormalizer"})", R"("normalizer": {"type": "Precompiled"})",
                           R"("pre_tokenizer": {"type": "BertPreTokenizer"})",
                           R"("pre_tokenizer": {"type": "UnicodeScripts"})",
                           R"("post_processor": {"type": "RobertaProcessing"})", R"("decoder": {"type": "WordPiece"})"}) {
    const std::string text = std::string("{") + part + R"(, "model": {"type": "BPE", "vocab": {}, "merges": []}})";
    const std::string msg = test::input_error([&] { HfTokenizer::from_json_text(text, "x.json"); });
    const std::string name = nlohmann::json::parse(std::string("{") + part + "}").begin().value().at("type");
    EXPECT_NE(msg.find("x.json"), std::string::npos) << msg;
    EXPECT_NE(msg.find(name), std::string::npos) << msg;
  }
  EXPECT_THROW(Tokenizer::from_model_dir("/nonexistent/dir"), InputError);
}

// Broken tokenizer.json files: each an InputError naming the file and the field or merge at fault.
TEST(TokenizerErrors, BrokenFilesNameTheFileAndField) {
  const std::string vocab = R"("vocab": {"a": 0, "b": 1, "ab": 2})";
  struct Case {
    std::string json, needle;
  };
  const Case cases[] = {
      {R"({"model": {"type": "WordPiece", "vocab": {}}})", "model type 'WordPiece'"},
      {R"({"normalizer": null})", "no 'model' object"},
      {R"({"model": {"type": "BPE", "merges": []}})", "missing field 'model.vocab'"},
      {R"({"model": {"type": "BPE", "vocab": {"a": "zero"}}})", "model.vocab['a'] must be an integer id"},
      {R"({"model": {"type": "BPE", )" + vocab + R"(, "merges": "a b"}})", "'model.merges' must be a list"},
      {R"({"model": {"type": "BPE", )" + vocab + R"(, "merges": ["a c"]}})", "merge 0 'a c' uses a piece missing"},
      {R"({"model": {"type": "BPE", )" + vocab + R"(, "merges": ["a b", "b a"]}})", "merge 1 'b a' makes 'ba'"},
      {R"({"model": {"type": "BPE", )" + vocab + R"(, "merges": ["a b c"]}})", "bad merge 'a b c'"},
      {R"({"model": {"type": "BPE", )" + vocab + R"(, "merges": [["a", 1]]}})", "model.merges: a merge must be"},
      {R"({"model": {"type": "BPE", )" + vocab + R"(, "merges": []}, "added_tokens": [{"content": "x"}]})", "'id'"},
      {R"({"model": {"type": "BPE", )", "not valid JSON"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.json);
    const std::string e = sp::test::input_error([&] { HfTokenizer::from_json_text(c.json, "m/tokenizer.json"); });
    EXPECT_NE(e.find("m/tokenizer.json"), std::string::npos) << e;
    EXPECT_NE(e.find(c.needle), std::string::npos) << e;
  }
}

// An unk_token missing from the vocabulary: Hugging Face tokenizers loads the file and encodes text
// whose chars all have pieces, and fails ("Unk token `<unk>` not found") only on a char without one.
TEST(TokenizerErrors, UnkTokenMissingFromTheVocabularyFailsOnlyWhenNeeded) {
  const auto t = HfTokenizer::from_json_text(
      R"({"model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2}, "merges": ["a b"], "unk_token": "<unk>"}})",
      "m/tokenizer.json");
  EXPECT_EQ(t->encode("abab"), (std::vector<int32_t>{2, 2}));
  const std::string e = sp::test::input_error([&] { t->encode("abc"); });
  EXPECT_NE(e.find("m/tokenizer.json"), std::string::npos) << e;
  EXPECT_NE(e.find("unk_token '<unk>' is not in model.vocab"), std::string::npos) << e;
}

}  // namespace
}  // namespace sp::tok
