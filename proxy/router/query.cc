#include "proxy/router/query.h"

#include "proxy/router/hex.h"

namespace portico::proxy::router {
namespace {

// Decodes the character at `i` and advances `i` past it.
char decodeAt(std::string_view s, size_t& i) noexcept {
  const char c = s[i];
  if (c == '+') {
    ++i;
    return ' ';
  }
  if (c == '%' && i + 2 < s.size()) {
    const int hi = hexValue(s[i + 1]);
    const int lo = hexValue(s[i + 2]);
    if (hi >= 0 && lo >= 0) {
      i += 3;
      return static_cast<char>(hi * 16 + lo);
    }
  }
  ++i;
  return c;
}

}  // namespace

bool QueryParamIterator::next(RawQueryParam& param) noexcept {
  while (!rest_.empty()) {
    const size_t amp = rest_.find('&');
    const std::string_view pair = rest_.substr(0, amp);
    rest_ = amp == std::string_view::npos ? std::string_view{} : rest_.substr(amp + 1);
    if (pair.empty()) continue;
    const size_t eq = pair.find('=');
    if (eq == std::string_view::npos) {
      param = {pair, {}};
    } else {
      param = {pair.substr(0, eq), pair.substr(eq + 1)};
    }
    return true;
  }
  return false;
}

std::string decodeQueryComponent(std::string_view encoded) {
  std::string out;
  out.reserve(encoded.size());
  for (size_t i = 0; i < encoded.size();) out.push_back(decodeAt(encoded, i));
  return out;
}

bool decodedEquals(std::string_view encoded, std::string_view decoded) noexcept {
  size_t i = 0;
  size_t j = 0;
  while (i < encoded.size()) {
    if (j >= decoded.size() || decodeAt(encoded, i) != decoded[j]) return false;
    ++j;
  }
  return j == decoded.size();
}

std::optional<std::string_view> findRawQueryValue(std::string_view query,
                                                  std::string_view name) noexcept {
  QueryParamIterator it(query);
  RawQueryParam param;
  while (it.next(param)) {
    if (decodedEquals(param.name, name)) return param.value;
  }
  return std::nullopt;
}

std::vector<QueryParam> parseQuery(std::string_view query) {
  std::vector<QueryParam> params;
  QueryParamIterator it(query);
  RawQueryParam param;
  while (it.next(param)) {
    params.push_back({decodeQueryComponent(param.name), decodeQueryComponent(param.value)});
  }
  return params;
}

std::string withoutQueryParam(std::string_view query, std::string_view name) {
  std::string out;
  QueryParamIterator it(query);
  RawQueryParam param;
  while (it.next(param)) {
    if (decodedEquals(param.name, name)) continue;
    if (!out.empty()) out += '&';
    out += param.name;
    // "name=" and "name" differ: keep the '=' exactly when the pair had one.
    if (param.name.data() + param.name.size() < query.data() + query.size() &&
        param.name.data()[param.name.size()] == '=') {
      out += '=';
      out += param.value;
    }
  }
  return out;
}

}  // namespace portico::proxy::router
