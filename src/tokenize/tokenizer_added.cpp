#include "tokenize/tokenizer_added.h"

#include <algorithm>
#include <cctype>

namespace sp::tok {

namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }
bool is_word_byte(char c) {
  const auto u = static_cast<unsigned char>(c);
  return u >= 0x80 || std::isalnum(u) || c == '_';
}

}  // namespace

AddedTokens::AddedTokens(std::vector<AddedToken> tokens) : tokens_(std::move(tokens)) {
  for (size_t i = 0; i < tokens_.size(); ++i) {
    by_id_[tokens_[i].id] = i;
    any_normalized_ = any_normalized_ || tokens_[i].normalized;
    if (!tokens_[i].spelling().empty()) by_first_byte_[static_cast<uint8_t>(tokens_[i].spelling()[0])].push_back(i);
  }
  for (auto& v : by_first_byte_)
    std::stable_sort(v.begin(), v.end(),
                     [&](size_t a, size_t b) { return tokens_[a].spelling().size() > tokens_[b].spelling().size(); });
}

bool AddedTokens::is_special(int32_t id) const {
  const AddedToken* t = by_id(id);
  return t != nullptr && t->special;
}

const AddedToken* AddedTokens::by_id(int32_t id) const {
  const auto it = by_id_.find(id);
  return it == by_id_.end() ? nullptr : &tokens_[it->second];
}

const AddedToken* AddedTokens::by_content(std::string_view content) const {
  for (const auto& t : tokens_)
    if (t.content == content) return &t;
  return nullptr;
}

std::vector<AddedTokens::Segment> AddedTokens::split(std::string_view text, bool normalized) const {
  std::vector<Segment> out;
  size_t seg_begin = 0;  // start of the pending text segment
  for (size_t pos = 0; pos < text.size();) {
    const AddedToken* hit = nullptr;
    for (const size_t i : by_first_byte_[static_cast<uint8_t>(text[pos])]) {
      const AddedToken& t = tokens_[i];
      const std::string& spelling = t.spelling();
      if (t.normalized != normalized || text.compare(pos, spelling.size(), spelling) != 0) continue;
      const size_t end = pos + spelling.size();
      if (t.single_word && ((pos > 0 && is_word_byte(text[pos - 1])) || (end < text.size() && is_word_byte(text[end]))))
        continue;
      hit = &t;
      break;
    }
    if (hit == nullptr) {
      ++pos;
      continue;
    }
    size_t b = pos, e = pos + hit->spelling().size();
    if (hit->lstrip)
      while (b > seg_begin && is_space(text[b - 1])) --b;
    if (hit->rstrip)
      while (e < text.size() && is_space(text[e])) ++e;
    if (b > seg_begin) out.push_back({text.substr(seg_begin, b - seg_begin), -1, seg_begin == 0});
    out.push_back({text.substr(b, e - b), hit->id, b == 0});
    seg_begin = pos = e;
  }
  if (seg_begin < text.size()) out.push_back({text.substr(seg_begin), -1, seg_begin == 0});
  return out;
}

}  // namespace sp::tok
