#include "proxy/router/cookie.h"

namespace portico::proxy::router {

namespace {
std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}
}  // namespace

std::optional<std::string_view> findCookie(std::string_view header, std::string_view name) noexcept {
  while (!header.empty()) {
    const size_t semicolon = header.find(';');
    const std::string_view pair = header.substr(0, semicolon);
    header = semicolon == std::string_view::npos ? std::string_view() : header.substr(semicolon + 1);
    const size_t equals = pair.find('=');
    if (equals == std::string_view::npos) continue;
    if (trim(pair.substr(0, equals)) == name) return trim(pair.substr(equals + 1));
  }
  return std::nullopt;
}

}  // namespace portico::proxy::router
