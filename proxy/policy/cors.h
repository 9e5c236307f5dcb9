// CORS (Fetch standard, "CORS protocol") for one route: RouteSpec::cors compiled once,
// then shared read-only by every worker.
//
// Origins. The request's Origin is a serialized origin "scheme://host[:port]" (or "null").
// Browsers send scheme and host in lower case; matching lower-cases the request's origin
// and the configured entries and then compares exactly. Entries:
//   "https://a.example"       exactly that origin (port included: ":8443" must match too)
//   "https://*.example.com"   any subdomain of example.com, at any depth, same scheme and
//                             port; NOT "https://example.com" itself, NOT "evil-example.com"
//   "*"                       any origin; "null" only when credentials are off
//   "null"                    the opaque origin, only when listed explicitly
// An Origin that is not a well-formed serialized origin (spaces, CR/LF, paths, user info,
// more than 2048 bytes) is never allowed, so whatever is echoed back is safe in a header.
// Malformed configured entries never match anything.
//
// Methods are case-sensitive tokens (Fetch compares them byte for byte); GET, HEAD and POST
// are always allowed (CORS-safelisted). An empty allowMethods allows only those; "*"
// allows any method and the preflight echoes the requested one (a literal "*" does not work
// for credentialed requests). Header names are case-insensitive; "*" in allowHeaders allows
// any header, and the preflight echoes the requested names (so Authorization works too,
// which a literal "*" would not cover).
//
// Vary: whenever the answer depends on the request's Origin (always, except for "*"
// without credentials), every response, allowed or not, gets "Vary: Origin" so that caches
// keep answers for different origins apart; preflight answers also vary on the request
// method and headers. The proxy must append to an existing Vary header, not replace it.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "proxy/config/route_spec.h"

namespace portico::proxy::policy {

using CorsHeaders = std::vector<std::pair<std::string, std::string>>;

enum class CorsDenial {
  None,
  Origin,   // the Origin is not allowed (or malformed)
  Method,   // Access-Control-Request-Method is not allowed (or not a token)
  Headers,  // some Access-Control-Request-Headers name is not allowed (or the list is malformed)
};

struct CorsPreflightResult {
  bool allowed = false;
  CorsDenial denial = CorsDenial::None;  // why not, for logs; None when allowed
  // Allowed: the headers of the 204 answer. Denied: empty (the proxy answers 403 without
  // CORS headers).
  CorsHeaders headers;
};

// True for a CORS preflight: OPTIONS (case-sensitive) with an Origin and an
// Access-Control-Request-Method header. Other OPTIONS requests go upstream as usual.
bool isPreflight(std::string_view method, bool hasOrigin, bool hasAccessControlRequestMethod);

class CorsPolicy {
 public:
  explicit CorsPolicy(const CorsSpec& spec);

  // The answer to a preflight. `requestHeaders` is the Access-Control-Request-Headers value
  // (comma-separated names, possibly empty; at most 64 names and 8 KiB).
  CorsPreflightResult preflight(std::string_view origin, std::string_view requestMethod,
                                std::string_view requestHeaders) const;

  // Headers to add to a normal (non-preflight) response. Call it for every response on the
  // route, with an empty `origin` when the request had none: for an allowed origin
  // Access-Control-Allow-Origin, -Allow-Credentials and -Expose-Headers; in every case the
  // Vary: Origin the caches need (see above). Empty when nothing applies.
  CorsHeaders actualResponseHeaders(std::string_view origin) const;

  // Whether `origin` (the Origin header value) may read responses.
  bool originAllowed(std::string_view origin) const;

 private:
  struct WildcardOrigin {
    std::string scheme;  // "https"
    std::string suffix;  // ".example.com"
    std::string port;    // "" or ":8443"
  };
  std::string allowOriginValue(std::string_view lowerOrigin) const;  // "*" or the origin
  bool originAllowedLower(std::string_view lowerOrigin) const;

  std::vector<std::string> exactOrigins_;  // lower case
  std::vector<WildcardOrigin> wildcardOrigins_;
  bool anyOrigin_ = false;
  bool allowNull_ = false;
  bool anyMethod_ = false;
  std::vector<std::string> methods_;
  bool anyHeader_ = false;
  std::vector<std::string> headersLower_;
  std::string methodsValue_;  // Access-Control-Allow-Methods for an explicit list
  std::string headersValue_;  // Access-Control-Allow-Headers for an explicit list
  std::string exposeValue_;   // Access-Control-Expose-Headers
  bool credentials_ = false;
  std::optional<std::string> maxAgeValue_;
};

}  // namespace portico::proxy::policy
