// Raw query-string helpers for the router's query matcher. Parsing is lazy and, for
// matching, allocation-free: the matcher walks the raw '&'-separated pairs and compares
// their percent-decoded form in place, only when a candidate route has query matches.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace portico::proxy::router {

// One name=value pair of a raw query string, still percent-encoded. Views into the query.
struct RawQueryParam {
  std::string_view name;
  std::string_view value;  // empty for "name" without '='
};

// Walks the '&'-separated pairs of a raw query string (without the '?'), skipping empty
// ones ("a=1&&b=2"). Never allocates.
class QueryParamIterator {
 public:
  explicit QueryParamIterator(std::string_view query) noexcept : rest_(query) {}
  // Stores the next pair in `param`; false when the query is exhausted.
  bool next(RawQueryParam& param) noexcept;

 private:
  std::string_view rest_;
};

// Form decoding of one query component: '+' is a space, "%XX" is the byte 0xXX, and a
// malformed escape ("%zz", a trailing "%4") stays as it is.
[[nodiscard]] std::string decodeQueryComponent(std::string_view encoded);

// True if decodeQueryComponent(encoded) == decoded, without allocating.
[[nodiscard]] bool decodedEquals(std::string_view encoded, std::string_view decoded) noexcept;

// The raw (still encoded) value of the first parameter whose decoded name is `name`, or
// nullopt if there is none.
[[nodiscard]] std::optional<std::string_view> findRawQueryValue(std::string_view query,
                                                                std::string_view name) noexcept;

// The raw query without the parameters whose decoded name is `name` (an API key that
// must not reach the backend); the other pairs keep their order and encoding.
[[nodiscard]] std::string withoutQueryParam(std::string_view query, std::string_view name);

struct QueryParam {
  std::string name;
  std::string value;
  bool operator==(const QueryParam&) const = default;
};

// Every pair of the query, decoded, in order (duplicates kept). For callers that need all
// of them (logging, rewriting); the matcher uses findRawQueryValue instead.
[[nodiscard]] std::vector<QueryParam> parseQuery(std::string_view query);

}  // namespace portico::proxy::router
