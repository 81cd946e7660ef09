#pragma once
// One table per enum, beside the enum: each value with its spelling, the one word the config, the
// report, masks.h5 and the journal all use; and the conversions both ways, here only. A value is
// found by its spelling, never by its position in a list.
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace sp {

template <class E>
struct EnumName {
  E value;
  const char* name;
};

// The spelling of v ("?" for a value the table lacks).
template <class E>
constexpr const char* enum_name(std::span<const EnumName<E>> table, E v) {
  for (const auto& e : table)
    if (e.value == v) return e.name;
  return "?";
}

template <class E>
std::optional<E> enum_from(std::span<const EnumName<E>> table, std::string_view s) {
  for (const auto& e : table)
    if (s == e.name) return e.value;
  return std::nullopt;
}

template <class E>
std::vector<std::string> enum_names(std::span<const EnumName<E>> table) {
  std::vector<std::string> v;
  for (const auto& e : table) v.emplace_back(e.name);
  return v;
}

}  // namespace sp
