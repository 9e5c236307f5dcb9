#include "controller/render/policies.h"

#include <arpa/inet.h>

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <optional>

#include <openssl/evp.h>

#include "controller/render/api_names.h"
#include "controller/render/validation.h"

namespace portico::controller {
namespace {


std::optional<unsigned> parseDecimal(std::string_view text, unsigned max) {
  if (text.empty() || text.size() > 10) return std::nullopt;
  unsigned value = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || ptr != text.data() + text.size() || value > max) return std::nullopt;
  return value;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

}  // namespace

std::string checkIpOrCidr(std::string_view text) {
  if (text.empty()) return "must be an IP address or CIDR, not empty";
  std::string_view address = text;
  std::optional<std::string_view> prefix;
  if (size_t slash = text.find('/'); slash != std::string_view::npos) {
    address = text.substr(0, slash);
    prefix = text.substr(slash + 1);
  }
  std::string addr(address);
  unsigned char buf[16];
  bool v4 = inet_pton(AF_INET, addr.c_str(), buf) == 1;
  bool v6 = !v4 && inet_pton(AF_INET6, addr.c_str(), buf) == 1;
  if (!v4 && !v6) {
    return quote(text) + " is not an IPv4 or IPv6 address or CIDR (such as 10.0.0.0/8 or 2001:db8::/32)";
  }
  if (prefix) {
    unsigned max = v4 ? 32 : 128;
    if (!parseDecimal(*prefix, max) || prefix->size() > 3) {
      return quote(text) + " has an invalid prefix length (0-" + std::to_string(max) + " for " +
             (v4 ? "IPv4" : "IPv6") + ")";
    }
  }
  return {};
}

std::string normalizeIpOrCidr(std::string_view text) {
  if (text.find(':') != std::string_view::npos) return toLower(text);
  return std::string(text);
}

Expected<proxy::HashKeySpec> parseHashOn(std::string_view text) {
  auto parsed = splitNamedKind(kHashSourceNames, text);
  if (!parsed) return makeError(quote(text) + " must be " + namedChoicesText(kHashSourceNames));
  auto [source, name] = *parsed;
  proxy::HashKeySpec spec;
  spec.source = source;
  if (!takesName(source)) return spec;
  if (name.empty()) return makeError(quote(text) + " needs a name after the colon");
  if (source != proxy::HashSource::Query && !isHttpToken(name)) {
    return makeError(quote(text) + ": " + quote(name) + " is not a valid " +
                     (source == proxy::HashSource::Header ? "header" : "cookie") + " name");
  }
  spec.name = std::string(name);
  return spec;
}

std::string applyRetryOn(std::string_view condition, proxy::RetrySpec& spec) {
  auto addStatus = [&](unsigned s) {
    auto it = std::lower_bound(spec.onStatuses.begin(), spec.onStatuses.end(), s);
    if (it == spec.onStatuses.end() || *it != s) spec.onStatuses.insert(it, s);
  };
  if (condition == "connect-failure") {
    spec.onConnectFailure = true;
  } else if (condition == "reset") {
    spec.onReset = true;
  } else if (condition == "timeout") {
    spec.onTimeout = true;
  } else if (condition == "5xx") {
    spec.on5xx = true;
  } else if (condition == "gateway-error") {
    addStatus(502);
    addStatus(503);
    addStatus(504);
  } else if (auto status = parseDecimal(condition, 599); status && *status >= 100 && condition.size() == 3) {
    addStatus(*status);
  } else {
    return quote(condition) +
           " must be connect-failure, reset, timeout, 5xx, gateway-error or a status code (100-599)";
  }
  return {};
}

Expected<std::pair<proxy::RateLimitKey, std::string>> parseRateLimitKey(std::string_view text) {
  auto parsed = splitNamedKind(kRateLimitKeyNames, text);
  if (!parsed) return makeError(quote(text) + " must be " + namedChoicesText(kRateLimitKeyNames));
  auto [key, name] = *parsed;
  if (key == proxy::RateLimitKey::Header && !isHttpToken(name)) {
    return makeError(quote(text) + ": " + quote(name) + " is not a valid header name");
  }
  if (key == proxy::RateLimitKey::Claim && name.empty()) {
    return makeError(quote(text) + " needs a claim name after the colon");
  }
  return std::pair{key, std::string(name)};
}

std::string checkCorsOrigin(std::string_view origin) {
  if (origin == "*") return {};
  std::string_view rest;
  if (origin.starts_with("https://")) {
    rest = origin.substr(8);
  } else if (origin.starts_with("http://")) {
    rest = origin.substr(7);
  } else {
    return quote(origin) + " must be \"*\" or an origin such as https://app.example.com";
  }
  if (rest.starts_with("*.")) rest.remove_prefix(2);
  if (size_t colon = rest.rfind(':'); colon != std::string_view::npos) {
    auto port = parseDecimal(rest.substr(colon + 1), 65535);
    if (!port || *port == 0) return quote(origin) + " has an invalid port";
    rest = rest.substr(0, colon);
  }
  if (!isDnsSubdomain(toLower(rest))) {
    return quote(origin) + " must be scheme://host[:port] with no path (a host name, optionally \"*.\" before it)";
  }
  return {};
}

std::string checkHttpUrl(std::string_view url) {
  std::string_view rest;
  if (url.starts_with("https://")) {
    rest = url.substr(8);
  } else if (url.starts_with("http://")) {
    rest = url.substr(7);
  } else {
    return quote(url) + " must start with http:// or https://";
  }
  for (unsigned char c : url) {
    if (c <= 0x20 || c == 0x7f) return quote(url) + " must not contain spaces or control characters";
  }
  std::string_view authority = rest.substr(0, rest.find_first_of("/?#"));
  if (authority.empty()) return quote(url) + " has no host";
  if (authority.find('@') != std::string_view::npos) return quote(url) + " must not contain user info";
  return {};
}

std::string checkHostPort(std::string_view text) {
  size_t colon = text.rfind(':');
  if (colon == std::string_view::npos) return quote(text) + " must be host:port";
  std::string_view host = text.substr(0, colon);
  auto port = parseDecimal(text.substr(colon + 1), 65535);
  if (!port || *port == 0) return quote(text) + " has an invalid port (1-65535)";
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    std::string inner(host.substr(1, host.size() - 2));
    unsigned char buf[16];
    if (inet_pton(AF_INET6, inner.c_str(), buf) == 1) return {};
    return quote(text) + " has an invalid IPv6 address";
  }
  std::string h(host);
  unsigned char buf[16];
  if (inet_pton(AF_INET, h.c_str(), buf) == 1 || isDnsSubdomain(toLower(host))) return {};
  return quote(text) + " must be host:port with a DNS name or an IP address";
}

std::string fingerprint(std::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  EVP_Digest(data.data(), data.size(), digest, &size, EVP_sha256(), nullptr);
  std::string out = "sha256:";
  char hex[3];
  for (unsigned i = 0; i < 8 && i < size; ++i) {
    std::snprintf(hex, sizeof hex, "%02x", digest[i]);
    out += hex;
  }
  return out;
}

std::vector<std::string> splitList(std::string_view text) {
  std::vector<std::string> out;
  size_t start = 0;
  while (true) {
    size_t comma = text.find(',', start);
    std::string_view item = text.substr(start, comma == std::string_view::npos ? std::string_view::npos : comma - start);
    out.emplace_back(trim(item));
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return out;
}

}  // namespace portico::controller
