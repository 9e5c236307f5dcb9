#include "controller/render/validation.h"

#include <array>
#include <cctype>

#include <re2/re2.h>

namespace portico::controller {

std::string quote(std::string_view s) { return "\"" + std::string(s) + "\""; }

std::string regexError(const std::string& pattern) {
  RE2::Options options;
  options.set_log_errors(false);
  RE2 re(pattern, options);
  return re.ok() ? std::string() : re.error();
}

bool isDnsLabel(std::string_view s) {
  if (s.empty() || s.size() > 63) return false;
  auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  if (!alnum(s.front()) || !alnum(s.back())) return false;
  for (char c : s) {
    if (!alnum(c) && c != '-') return false;
  }
  return true;
}

bool isDnsSubdomain(std::string_view s) {
  if (s.empty() || s.size() > 253) return false;
  size_t start = 0;
  while (true) {
    size_t dot = s.find('.', start);
    std::string_view label = s.substr(start, dot == std::string_view::npos ? s.npos : dot - start);
    if (!isDnsLabel(label)) return false;
    if (dot == std::string_view::npos) return true;
    start = dot + 1;
  }
}

std::string checkRouteHost(std::string_view host) {
  if (host.empty()) return "must not be empty";
  std::string_view rest = host;
  if (host.starts_with("*.")) {
    rest = host.substr(2);
  } else if (host.find('*') != std::string_view::npos) {
    return "a wildcard must be the whole first label (\"*.example.com\")";
  }
  if (rest.find(':') != std::string_view::npos) return "must not contain a port";
  if (!isDnsSubdomain(rest)) return "must be a DNS name (RFC 1123) or \"*.\" followed by one";
  return {};
}

bool isHttpToken(std::string_view s) {
  if (s.empty()) return false;
  for (unsigned char c : s) {
    if (std::isalnum(c)) continue;
    switch (c) {
      case '!': case '#': case '$': case '%': case '&': case '\'': case '*': case '+':
      case '-': case '.': case '^': case '_': case '`': case '|': case '~':
        continue;
      default:
        return false;
    }
  }
  return true;
}

bool isHttpFieldValue(std::string_view s) {
  for (unsigned char c : s) {
    if ((c < 0x20 && c != '\t') || c == 0x7f) return false;
  }
  return true;
}

bool isReservedHeader(std::string_view name) {
  static constexpr std::array<std::string_view, 9> kReserved = {
      "host", "content-length", "transfer-encoding", "connection", "upgrade",
      "te", "trailer", "keep-alive", "proxy-connection"};
  std::string lower = toLower(name);
  for (auto r : kReserved) {
    if (lower == r) return true;
  }
  return false;
}

std::string toLower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string toUpper(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

}  // namespace portico::controller
