// Data files and the evaluation protocols, checked against values computed independently in
// Python (str.splitlines / str.strip / json.loads, as shared/tools/make_reference.py does) and
// against files whose bytes the test builds itself. Uses a byte tokenizer (test_sampling_fakes.h)
// so that the expected ids follow from the text; the real-tokenizer checks are in test_dataset_real.
#include <gtest/gtest.h>

#include <fmt/format.h>

#include <filesystem>
#include <fstream>

#include <unistd.h>

#include "core/error.h"
#include "test_sampling_fakes.h"
#include "test_util.h"
#include "tokenize/dataset.h"
#include "tokenize/dataset_text.h"

namespace sp::data {
namespace {

namespace fs = std::filesystem;

uint64_t fnv1a_bytes(std::string_view s) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char c : s) h = (h ^ c) * 0x100000001b3ULL;
  return h;
}

// A fresh folder per test (tests of one binary may run in parallel processes under ctest).
class TempDir {
 public:
  TempDir() {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::temp_directory_path() /
           fmt::format("sp_data_{}_{}_{}", info->test_suite_name(), info->name(), ::getpid());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  ~TempDir() { fs::remove_all(dir_); }
  std::string write(const std::string& name, std::string_view bytes) const {
    const std::string p = (dir_ / name).string();
    std::ofstream(p, std::ios::binary).write(bytes.data(), std::streamsize(bytes.size()));
    return p;
  }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }

 private:
  fs::path dir_;
};

#define EXPECT_CONTAINS(haystack, needle)                                             \
  do {                                                                                \
    const std::string h_ = (haystack);                                                \
    EXPECT_NE(h_.find(needle), std::string::npos) << "'" << (needle) << "' not in: " << h_; \
  } while (0)

TEST(DataFormat, ResolvesFromTheFileName) {
  EXPECT_EQ(resolve_format({"/d/c4-calib.jsonl"}), Format::Jsonl);
  EXPECT_EQ(resolve_format({"/d/docs.json"}), Format::Jsonl);
  EXPECT_EQ(resolve_format({"/d/wikitext-2-raw/wiki.test.raw"}), Format::Wikitext);
  EXPECT_EQ(resolve_format({"/d/wiki.train.raw"}), Format::Wikitext);
  EXPECT_EQ(resolve_format({"/d/other.raw"}), Format::Text);
  EXPECT_EQ(resolve_format({"/wiki/notes.txt"}), Format::Text);
  EXPECT_EQ(resolve_format({"/d/ids.npy"}), Format::Ids);
  EXPECT_EQ(resolve_format({"/d/train.bin"}), Format::Ids);
  EXPECT_EQ(resolve_format({"/d/README"}), Format::Text);
  EXPECT_EQ(resolve_format({"/d/x.jsonl", Format::Text}), Format::Text);
  EXPECT_EQ(parse_format("wikitext"), Format::Wikitext);
  EXPECT_CONTAINS(sp::test::input_error([] { parse_format("csv"); }), "'csv'");
  EXPECT_EQ(parse_ids_dtype("uint32"), IdsDtype::U32);
  EXPECT_CONTAINS(sp::test::input_error([] { parse_ids_dtype("f32"); }), "ids_dtype");
}

// Expected values written by Python: t.splitlines(True) and the make_reference.py join.
TEST(DataText, SplitLinesAndBlankRowsFollowPython) {
  const std::string t = "a\r\nb\u2028c\x0c" "d\n \u00a0\u3000\n\n\xc2\x85" "e";
  const std::vector<std::string> want = {"a\r\n", "b\u2028", "c\x0c", "d\n", " \u00a0\u3000\n", "\n", "\xc2\x85", "e"};
  const auto got = split_lines_keepends(t);
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) EXPECT_EQ(got[i], want[i]) << "line " << i;
  EXPECT_EQ(wikitext_eval_string_from_text(t), "a\r\n\n\nb\u2028\n\nc\x0c\n\nd\n\n\n\n\n\n\n\n\ne");
  EXPECT_TRUE(is_blank(" \t\u00a0\u2009\n"));
  EXPECT_FALSE(is_blank(" x "));
  EXPECT_TRUE(is_blank(""));
  EXPECT_EQ(universal_newlines("a\r\nb\rc\n\r\n"), "a\nb\nc\n\n");
}

TEST(DataText, InvalidUtf8NamesTheFileAndByte) {
  TempDir tmp;
  const std::string p = tmp.write("bad.txt", "ok\xff\xfe");
  EXPECT_CONTAINS(sp::test::input_error([&] { read_text_file(p); }), p + ": invalid UTF-8 at byte 2");
  EXPECT_CONTAINS(sp::test::input_error([&] { read_text_file(tmp.path("missing.txt")); }), "missing.txt");
}

// Length and FNV-1a of the string computed by make_reference.py's own function in Python.
TEST(DataWikitext, EvalStringMatchesMakeReference) {
  SP_REQUIRE_SHARED(raw, "data/wikitext-2-raw/wiki.test.raw");
  const std::string s = wikitext_eval_string(raw);
  EXPECT_EQ(s.size(), 1296370u);
  EXPECT_EQ(fnv1a_bytes(s), 0x8521b84b68568ffbULL);
  EXPECT_EQ(s.substr(0, 24), "\n\n = Robert Boulter = \n\n");
}

TEST(DataJsonl, C4SliceHas1000Documents) {
  SP_REQUIRE_SHARED(c4, "data/c4/c4-calib.jsonl");
  const JsonlDocs docs = JsonlDocs::open(c4, "text");
  ASSERT_EQ(docs.size(), 1000);
  const std::string d0 = docs.text(0);
  EXPECT_EQ(d0.size(), 566u);  // UTF-8 bytes of json.loads(line 1)["text"]
  EXPECT_EQ(d0.substr(0, 39), "Saving for exactly this right now. A ru");
  EXPECT_EQ(docs.line_number(999), 1000);
}

TEST(DataJsonl, EvalJoinsTheFirstDocumentsWithSpaces) {
  SP_REQUIRE_SHARED(c4, "data/c4/c4-calib.jsonl");
  test::ByteTokenizer tok;
  EvalOptions opts;
  opts.max_docs = 3;
  const std::vector<int32_t> ids = load_eval_ids({c4}, &tok, tok.bos_id(), opts);
  const std::string joined = tok.decode(ids);  // no BOS: SparseGPT's C4 validation stream
  EXPECT_EQ(joined.size(), 1991u);
  EXPECT_EQ(fnv1a_bytes(joined), 0x19a856b1d0c5bf30ULL);  // Python: " ".join(c4[:3])
  opts.max_tokens = 100;
  EXPECT_EQ(load_eval_ids({c4}, &tok, tok.bos_id(), opts).size(), 100u);
}

TEST(DataJsonl, BadLinesNameTheFileLineAndField) {
  TempDir tmp;
  const std::string good = "{\"text\": \"hello\"}\n";
  const std::string p1 = tmp.write("a.jsonl", good + good + "{\"text\": \"x\",,}\n");
  EXPECT_CONTAINS(sp::test::input_error([&] { JsonlDocs::open(p1, "text"); }), p1 + ":3: not valid JSON");
  const std::string p2 = tmp.write("b.jsonl", good + "[1, 2]\n");
  EXPECT_CONTAINS(sp::test::input_error([&] { JsonlDocs::open(p2, "text"); }), p2 + ":2: expected a JSON object");
  const std::string p3 = tmp.write("c.jsonl", good + "\n" + "{\"body\": \"x\"}\n");
  EXPECT_CONTAINS(sp::test::input_error([&] { JsonlDocs::open(p3, "text"); }), p3 + ":3: the object has no \"text\" field");
  const std::string p4 = tmp.write("d.jsonl", "{\"text\": 5}\n");
  EXPECT_CONTAINS(sp::test::input_error([&] { JsonlDocs::open(p4, "text"); }), p4 + ":1: field \"text\" is a number");
  const std::string p6 = tmp.write("f.jsonl", good + "{\"text\": \"x\", \"score\": 1e999}\n");  // out_of_range
  EXPECT_CONTAINS(sp::test::input_error([&] { JsonlDocs::open(p6, "text"); }), p6 + ":2: not valid JSON");
  const std::string p5 = tmp.write("e.jsonl", "\n  \n");
  EXPECT_CONTAINS(sp::test::input_error([&] { JsonlDocs::open(p5, "text"); }), p5 + ": no JSON documents");
  EXPECT_CONTAINS(sp::test::input_error([&] { Dataset({tmp.path("none.jsonl")}, nullptr, -1); }), "data file not found");
}

TEST(DataJsonl, CustomFieldBlankLinesAndCrlf) {
  TempDir tmp;
  const std::string p = tmp.write("docs.json", "{\"content\": \"a\\nb\", \"id\": 1}\r\n\r\n{\"content\": \"\\u00e9\"}");
  const JsonlDocs docs = JsonlDocs::open(p, "content");
  ASSERT_EQ(docs.size(), 2);
  EXPECT_EQ(docs.text(0), "a\nb");
  EXPECT_EQ(docs.text(1), "\u00e9");
  EXPECT_EQ(docs.line_number(1), 3);
}

TEST(DataTextFile, EvalIsBosPlusTheTranslatedText) {
  TempDir tmp;
  test::ByteTokenizer tok;
  const std::string p = tmp.write("t.txt", "ab\r\ncd\re");
  const std::vector<int32_t> ids = load_eval_ids({p}, &tok, 256);
  const std::vector<int32_t> want = {256, 'a', 'b', '\n', 'c', 'd', '\n', 'e'};
  EXPECT_EQ(ids, want);
  const std::string empty = tmp.write("empty.txt", "");
  EXPECT_CONTAINS(sp::test::input_error([&] { load_eval_ids({empty}, &tok, 256); }), empty + ": the data file is empty");
  EXPECT_CONTAINS(sp::test::input_error([&] { load_eval_ids({p}, nullptr, 256); }), "needs a tokenizer");
}

}  // namespace
}  // namespace sp::data
