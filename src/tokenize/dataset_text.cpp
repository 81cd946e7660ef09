#include "tokenize/dataset_text.h"

#include <cstdint>
#include <fstream>
#include <sstream>

#include "core/error.h"

namespace sp::data {
namespace {

// Decodes one UTF-8 code point at text[i]; returns its length, 0 if the sequence is invalid
// (overlong forms, surrogates and values past U+10FFFF are invalid, as in Python's decoder).
size_t decode_utf8(std::string_view text, size_t i, uint32_t* cp) {
  const auto b = [&](size_t k) { return static_cast<uint8_t>(text[i + k]); };
  const size_t left = text.size() - i;
  const uint8_t c = b(0);
  if (c < 0x80) {
    *cp = c;
    return 1;
  }
  size_t n = 0;
  uint32_t v = 0, min = 0;
  if ((c & 0xE0) == 0xC0) {
    n = 2, v = c & 0x1F, min = 0x80;
  } else if ((c & 0xF0) == 0xE0) {
    n = 3, v = c & 0x0F, min = 0x800;
  } else if ((c & 0xF8) == 0xF0) {
    n = 4, v = c & 0x07, min = 0x10000;
  } else {
    return 0;
  }
  if (left < n) return 0;
  for (size_t k = 1; k < n; ++k) {
    if ((b(k) & 0xC0) != 0x80) return 0;
    v = (v << 6) | (b(k) & 0x3F);
  }
  if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) return 0;
  *cp = v;
  return n;
}

// Python str.isspace().
bool is_space_cp(uint32_t c) {
  return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

// Line boundaries of str.splitlines (except "\r\n", handled by the caller).
bool is_line_break_cp(uint32_t c) {
  return c == 0x0A || c == 0x0B || c == 0x0C || c == 0x0D || c == 0x1C || c == 0x1D || c == 0x1E || c == 0x85 ||
         c == 0x2028 || c == 0x2029;
}

}  // namespace

void require_utf8(std::string_view text, const std::string& label) {
  uint32_t cp = 0;
  for (size_t i = 0; i < text.size();) {
    const size_t n = decode_utf8(text, i, &cp);
    SP_REQUIRE(n != 0, "{}: invalid UTF-8 at byte {}", label, i);
    i += n;
  }
}

std::string universal_newlines(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\r') {
      out.push_back('\n');
      if (i + 1 < text.size() && text[i + 1] == '\n') ++i;
    } else {
      out.push_back(text[i]);
    }
  }
  return out;
}

std::string read_text_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  SP_REQUIRE(f.good(), "{}: cannot open the data file", path);
  std::ostringstream ss;
  ss << f.rdbuf();
  SP_REQUIRE(!f.bad(), "{}: read error", path);
  std::string raw = std::move(ss).str();
  require_utf8(raw, path);
  return universal_newlines(raw);
}

std::vector<std::string_view> split_lines_keepends(std::string_view text) {
  std::vector<std::string_view> lines;
  size_t start = 0;
  uint32_t cp = 0;
  for (size_t i = 0; i < text.size();) {
    const size_t n = decode_utf8(text, i, &cp);
    SP_CHECK(n != 0, "split_lines_keepends needs valid UTF-8 (byte {})", i);
    size_t end = i + n;
    if (is_line_break_cp(cp)) {
      if (cp == '\r' && end < text.size() && text[end] == '\n') ++end;
      lines.push_back(text.substr(start, end - start));
      start = end;
    }
    i = end;
  }
  if (start < text.size()) lines.push_back(text.substr(start));
  return lines;
}

bool is_blank(std::string_view text) {
  uint32_t cp = 0;
  for (size_t i = 0; i < text.size();) {
    const size_t n = decode_utf8(text, i, &cp);
    if (n == 0 || !is_space_cp(cp)) return false;
    i += n;
  }
  return true;
}

std::string wikitext_eval_string_from_text(std::string_view text) {
  std::string out;
  out.reserve(text.size() + text.size() / 16);
  bool first = true;
  for (std::string_view line : split_lines_keepends(text)) {
    if (!first) out += "\n\n";
    first = false;
    if (!is_blank(line)) out += line;
  }
  return out;
}

std::string wikitext_eval_string(const std::string& path) {
  const std::string text = read_text_file(path);
  SP_REQUIRE(!text.empty(), "{}: the WikiText file is empty", path);
  return wikitext_eval_string_from_text(text);
}

}  // namespace sp::data
