#include "proxy/router/host_set.h"

namespace portico::proxy::router {

std::string toLowerAscii(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

std::string_view wildcardSuffixOf(std::string_view host) noexcept {
  const size_t dot = host.find('.');
  if (dot == std::string_view::npos || dot == 0) return {};
  return host.substr(dot + 1);
}

HostPattern parseHostPattern(std::string_view host) {
  if (host.empty() || host == "*") return {HostPatternKind::Any, {}};
  if (host.size() > 2 && host[0] == '*' && host[1] == '.') {
    return {HostPatternKind::Wildcard, toLowerAscii(host.substr(2))};
  }
  return {HostPatternKind::Exact, toLowerAscii(host)};
}

void HostSet::add(std::string_view pattern) {
  if (pattern.empty()) return;  // an empty entry is a mistake, not "every host"
  HostPattern parsed = parseHostPattern(pattern);
  switch (parsed.kind) {
    case HostPatternKind::Any:
      any_ = true;
      break;
    case HostPatternKind::Wildcard:
      wildcard_.insert(std::move(parsed.key));
      break;
    case HostPatternKind::Exact:
      exact_.insert(std::move(parsed.key));
      break;
  }
}

bool HostSet::contains(std::string_view host) const noexcept {
  if (any_) return true;
  if (exact_.find(host) != exact_.end()) return true;
  const std::string_view suffix = wildcardSuffixOf(host);
  return !suffix.empty() && wildcard_.find(suffix) != wildcard_.end();
}

}  // namespace portico::proxy::router
