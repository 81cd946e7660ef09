#pragma once
// One table per enum, beside the enum: each value with its spelling, the one word the config, the
// report, masks.h5 and the journal all use; and the conversions both ways, here only. A value is
// found by its spelling, never by its position in a list. C++17 (no std::span): the .cu files include it.
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sp {

template <class E>
struct EnumName {
  E value;
  const char* name;
};

// A view of one table (a constexpr array of EnumName<E>).
template <class E>
class EnumTable {
 public:
  template <std::size_t N>
  constexpr EnumTable(const EnumName<E> (&t)[N]) : first_(t), size_(N) {}  // NOLINT: implicit on purpose
  constexpr const EnumName<E>* begin() const { return first_; }
  constexpr const EnumName<E>* end() const { return first_ + size_; }

 private:
  const EnumName<E>* first_;
  std::size_t size_;
};

// The spelling of v ("?" for a value the table lacks).
template <class E>
constexpr const char* enum_name(EnumTable<E> table, E v) {
  for (const auto& e : table)
    if (e.value == v) return e.name;
  return "?";
}

template <class E>
std::optional<E> enum_from(EnumTable<E> table, std::string_view s) {
  for (const auto& e : table)
    if (s == e.name) return e.value;
  return std::nullopt;
}

template <class E>
std::vector<std::string> enum_names(EnumTable<E> table) {
  std::vector<std::string> v;
  for (const auto& e : table) v.emplace_back(e.name);
  return v;
}

}  // namespace sp
