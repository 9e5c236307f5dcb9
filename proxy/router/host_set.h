// Host-name helpers shared by the route index and the HTTPS-redirect set.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>

namespace portico::proxy::router {

// Transparent hash so that maps keyed by std::string can be probed with a string_view
// without building a std::string on the request path.
struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};

template <class Value>
using StringMap = std::unordered_map<std::string, Value, StringHash, std::equal_to<>>;
using StringSet = std::unordered_set<std::string, StringHash, std::equal_to<>>;

// ASCII lower case (host names are compared case-insensitively).
[[nodiscard]] std::string toLowerAscii(std::string_view s);

// The part of `host` after its first label ("foo.example.com" -> "example.com"), the key
// under which "*.example.com" is stored; empty if the host has no dot or an empty first
// label. So "*.example.com" matches exactly one extra label: not "a.b.example.com", not
// "example.com".
[[nodiscard]] std::string_view wildcardSuffixOf(std::string_view host) noexcept;

// How a configured host pattern is stored.
enum class HostPatternKind {
  Any,       // "" or "*": every host
  Wildcard,  // "*.example.com": key is "example.com"
  Exact,     // "api.example.com": key is the host
};
struct HostPattern {
  HostPatternKind kind;
  std::string key;  // lower case; empty for Any
};
// Classifies a configured host (any case).
[[nodiscard]] HostPattern parseHostPattern(std::string_view host);

// A set of exact and wildcard host patterns with O(1) lookup: exact set, then the wildcard
// suffix set. Immutable after construction; any thread may call contains().
class HostSet {
 public:
  // "*" adds every host; an empty pattern is ignored.
  void add(std::string_view pattern);
  // `host` must be lower case without a port.
  [[nodiscard]] bool contains(std::string_view host) const noexcept;
  [[nodiscard]] bool empty() const noexcept { return !any_ && exact_.empty() && wildcard_.empty(); }

 private:
  StringSet exact_;
  StringSet wildcard_;  // suffixes after "*."
  bool any_ = false;
};

}  // namespace portico::proxy::router
