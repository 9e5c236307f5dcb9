#include "proxy/config/admission_options.h"

#include <array>
#include <utility>

namespace portico::proxy::http1 {
namespace {

constexpr std::array<std::pair<std::string_view, UnderscoreHeaders>, 3> kUnderscoreNames{{
    {"drop", UnderscoreHeaders::Drop},
    {"reject", UnderscoreHeaders::Reject},
    {"allow", UnderscoreHeaders::Allow},
}};
constexpr std::array<std::pair<std::string_view, router::EscapedSlashes>, 4> kEscapedSlashNames{{
    {"reject", router::EscapedSlashes::Reject},
    {"unescape-and-redirect", router::EscapedSlashes::UnescapeAndRedirect},
    {"unescape-and-forward", router::EscapedSlashes::UnescapeAndForward},
    {"keep", router::EscapedSlashes::Keep},
}};

template <class Table, class Value>
std::string_view nameOf(const Table& table, Value value) {
  for (const auto& [name, v] : table)
    if (v == value) return name;
  return {};
}

template <class Table>
auto valueOf(const Table& table, std::string_view name) -> std::optional<typename Table::value_type::second_type> {
  for (const auto& [n, v] : table)
    if (n == name) return v;
  return std::nullopt;
}

}  // namespace

std::string_view toString(UnderscoreHeaders action) { return nameOf(kUnderscoreNames, action); }
std::string_view toString(router::EscapedSlashes action) { return nameOf(kEscapedSlashNames, action); }
std::optional<UnderscoreHeaders> parseUnderscoreHeaders(std::string_view name) {
  return valueOf(kUnderscoreNames, name);
}
std::optional<router::EscapedSlashes> parseEscapedSlashes(std::string_view name) {
  return valueOf(kEscapedSlashNames, name);
}

}  // namespace portico::proxy::http1
