#pragma once
// Text as the reference protocols read it: Python's text mode and str methods, reproduced exactly
// so that the strings we tokenize are byte-identical to the ones Hugging Face tokenized.
#include <string>
#include <string_view>
#include <vector>

namespace sp::data {

// Python `open(path, encoding="utf-8").read()`: "\r\n" and a lone "\r" become "\n" (universal
// newlines); the bytes must be valid UTF-8 (InputError naming the file and byte offset otherwise).
std::string read_text_file(const std::string& path);
std::string universal_newlines(std::string_view text);
// Throws InputError "<label>: invalid UTF-8 at byte N" on the first bad sequence.
void require_utf8(std::string_view text, const std::string& label);

// Python `str.splitlines(True)` (every Unicode line boundary: \n \r \r\n \v \f \x1c-\x1e U+0085
// U+2028 U+2029), ends kept. Input must be valid UTF-8.
std::vector<std::string_view> split_lines_keepends(std::string_view text);
// Python `s.strip() == ""`: every code point is Unicode whitespace (str.isspace).
bool is_blank(std::string_view text);

// WikiText evaluation string (shared/tools/make_reference.py `wikitext_eval_string`): rows = the
// raw file's lines with their line endings, a blank line becomes "", rows joined by "\n\n".
std::string wikitext_eval_string(const std::string& path);
std::string wikitext_eval_string_from_text(std::string_view text);  // text already newline-translated

}  // namespace sp::data
