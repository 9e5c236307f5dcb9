// Syntax of the gateway and resilience policy values that APIRoute rules and Ingress
// annotations share: CIDRs, hash keys, retry conditions, rate-limit keys, CORS origins.
// Internal to render. Every check returns the reason text only (no field prefix), so
// each caller names its own field or annotation.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "proxy/common/expected.h"
#include "proxy/config/route_spec.h"

namespace portico::controller {

// An IPv4 or IPv6 address, or a CIDR "address/prefix" with prefix 0-32 (IPv4) or 0-128
// (IPv6). Parsed with inet_pton; no zone ids. Returns "" if valid, else the reason.
std::string checkIpOrCidr(std::string_view text);

// The canonical form render puts in the table: IPv6 lower-cased, everything else as
// written. Call only on a value checkIpOrCidr accepted.
std::string normalizeIpOrCidr(std::string_view text);

// ClientIP | Path | Header:NAME | Cookie:NAME | Query:NAME (NAME non-empty; a header or
// cookie name must be an HTTP token).
[[nodiscard]] Expected<proxy::HashKeySpec> parseHashOn(std::string_view text);

// One retry condition: connect-failure, reset, timeout, 5xx, gateway-error (502, 503, 504)
// or a status code 100-599. Adds it to `spec` (statuses sorted, unique). Returns "" if
// valid, else the reason.
std::string applyRetryOn(std::string_view condition, proxy::RetrySpec& spec);

// ClientIP | Consumer | Header:NAME | Claim:NAME.
[[nodiscard]] Expected<std::pair<proxy::RateLimitKey, std::string>> parseRateLimitKey(
    std::string_view text);

// "*", or http(s)://host[:port] with an optional "*." before the host. Returns "" if
// valid, else the reason.
std::string checkCorsOrigin(std::string_view origin);

// "http://host[:port][/path]" or https: the shape of jwksURI and external auth urls.
// Returns "" if valid, else the reason.
std::string checkHttpUrl(std::string_view url);

// "host:port" with a DNS name, IPv4 address or [IPv6] address and a port 1-65535.
// Returns "" if valid, else the reason.
std::string checkHostPort(std::string_view text);

// "sha256:" and the first 16 hex digits of the SHA-256 of `data`: shows that secret
// material changed without showing it.
std::string fingerprint(std::string_view data);

// Splits a comma-separated annotation value, trimming spaces; empty items are kept (as
// "") so that callers can report them.
std::vector<std::string> splitList(std::string_view text);

}  // namespace portico::controller
