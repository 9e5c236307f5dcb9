#include "controller/render/ingress.h"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <exception>
#include <limits>
#include <optional>
#include <tuple>
#include <unordered_set>

#include "controller/render/api_names.h"
#include "controller/render/backend_tls.h"
#include "controller/render/host_tls.h"
#include "controller/render/backends.h"
#include "controller/render/duration.h"
#include "controller/render/field_path.h"
#include "controller/render/policies.h"
#include "controller/render/secrets.h"
#include "controller/render/validation.h"

namespace portico::controller {
namespace {

using nlohmann::json;

constexpr std::string_view kKind = "Ingress";
constexpr std::string_view kLegacyClassAnnotation = "kubernetes.io/ingress.class";
constexpr std::string_view kAnnotationPrefix = "portico.dev/";
constexpr std::string_view kAnnotationsField = "metadata.annotations";

constexpr std::string_view kSslRedirect = "portico.dev/ssl-redirect";
constexpr std::string_view kRewriteTarget = "portico.dev/rewrite-target";
constexpr std::string_view kLoadBalancing = "portico.dev/load-balancing";
constexpr std::string_view kProxyBodySize = "portico.dev/proxy-body-size";
constexpr std::string_view kConnectTimeout = "portico.dev/connect-timeout";
constexpr std::string_view kRequestTimeout = "portico.dev/request-timeout";
constexpr std::string_view kAuthType = "portico.dev/auth-type";
constexpr std::string_view kAuthSecret = "portico.dev/auth-secret";
constexpr std::string_view kAuthHeader = "portico.dev/auth-header";
constexpr std::string_view kAuthRealm = "portico.dev/auth-realm";
constexpr std::string_view kRateLimitRequests = "portico.dev/rate-limit-requests";
constexpr std::string_view kRateLimitPeriod = "portico.dev/rate-limit-period";
constexpr std::string_view kRateLimitBurst = "portico.dev/rate-limit-burst";
constexpr std::string_view kRateLimitKey = "portico.dev/rate-limit-key";
constexpr std::string_view kCorsAllowOrigins = "portico.dev/cors-allow-origins";
constexpr std::string_view kCorsAllowMethods = "portico.dev/cors-allow-methods";
constexpr std::string_view kCorsAllowCredentials = "portico.dev/cors-allow-credentials";
constexpr std::string_view kAllowSourceRanges = "portico.dev/allow-source-ranges";
constexpr std::string_view kDenySourceRanges = "portico.dev/deny-source-ranges";
constexpr std::string_view kRetries = "portico.dev/retries";
constexpr std::string_view kRetryOn = "portico.dev/retry-on";
constexpr std::string_view kHashOn = "portico.dev/hash-on";
constexpr std::string_view kAffinityCookie = "portico.dev/affinity-cookie";
constexpr std::string_view kHealthCheckPath = "portico.dev/health-check-path";
constexpr std::string_view kBackendProtocol = "portico.dev/backend-protocol";
constexpr std::string_view kBackendTlsCaSecret = "portico.dev/backend-tls-ca-secret";
constexpr std::string_view kBackendTlsSni = "portico.dev/backend-tls-sni";
constexpr std::string_view kBackendTlsSubjectAltNames = "portico.dev/backend-tls-subject-alt-names";
constexpr std::string_view kBackendTlsClientCertificateSecret = "portico.dev/backend-tls-client-certificate-secret";
constexpr std::string_view kBackendTlsInsecureSkipVerify = "portico.dev/backend-tls-insecure-skip-verify";
constexpr std::string_view kClientAuthCaSecret = "portico.dev/client-auth-ca-secret";
constexpr std::string_view kClientAuthMode = "portico.dev/client-auth-mode";
constexpr std::string_view kClientAuthCrlSecret = "portico.dev/client-auth-crl-secret";
constexpr std::string_view kHstsMaxAge = "portico.dev/hsts-max-age";
constexpr std::string_view kTlsMinVersion = "portico.dev/tls-min-version";
constexpr std::string_view kHstsIncludeSubdomains = "portico.dev/hsts-include-subdomains";

// Unknown annotations under these prefixes (a misspelt auth or rate-limit annotation) block
// the Ingress: a route meant to be protected must never be served unprotected.
constexpr std::string_view kUnsupportedAnnotationPrefixes[] = {
    "portico.dev/rate-limit", "portico.dev/ratelimit", "portico.dev/auth", "portico.dev/backend-tls",
    "portico.dev/client-auth"};


std::string annotationField(std::string_view key) { return childField(kAnnotationsField, key); }

const json* annotationsOf(const json& object) {
  const json* meta = member(object, "metadata");
  const json* annotations = meta ? member(*meta, "annotations") : nullptr;
  return annotations && annotations->is_object() ? annotations : nullptr;
}

// What the portico.dev/ annotations ask for, applied to every route of the Ingress.
struct Settings {
  bool sslRedirect = false;
  std::optional<std::string> rewriteTarget;
  std::optional<proxy::LoadBalancingPolicy> loadBalancing;
  uint64_t maxRequestBodyBytes = 0;
  std::optional<proxy::Millis> connectTimeout;
  std::optional<proxy::Millis> requestTimeout;
  // Gateway and resilience annotations, cross-checked by finishSettings().
  std::optional<std::string> authType;  // "api-key" | "basic"
  std::optional<std::string> authSecret;
  std::optional<std::string> authHeader;
  std::optional<std::string> authRealm;
  proxy::AuthSpec auth;  // resolved from authSecret
  std::optional<uint64_t> rateLimitRequests;
  std::optional<proxy::Millis> rateLimitPeriod;
  std::optional<uint64_t> rateLimitBurst;
  std::optional<std::pair<proxy::RateLimitKey, std::string>> rateLimitKey;
  std::optional<proxy::RateLimitSpec> rateLimit;
  std::vector<std::string> corsOrigins;
  std::vector<std::string> corsMethods;
  std::optional<bool> corsCredentials;
  std::optional<proxy::CorsSpec> cors;
  proxy::IpRulesSpec ipRules;
  std::optional<uint32_t> retryAttempts;
  std::optional<proxy::RetrySpec> retryOn;  // the conditions only
  std::optional<proxy::RetrySpec> retries;
  std::optional<proxy::HashKeySpec> hashOn;
  std::optional<std::string> affinityCookie;
  std::optional<std::string> healthCheckPath;
  bool backendHttps = false;
  BackendTlsFields backendTls;
  std::optional<proxy::UpstreamTlsSpec> upstreamTls;  // resolved; serverName "" = per Service
  std::optional<ClientAuthFields> clientAuthFields;
  std::optional<proxy::ClientAuthSpec> clientAuth;  // resolved: on every spec.tls certificate
  std::optional<HstsFields> hsts;                   // on every spec.tls certificate
  bool tls13Only = false;                           // on every spec.tls certificate
};

// A comma list of CIDRs; "" if valid, else the reason naming the bad entry.
std::string readCidrList(const std::string& value, std::vector<std::string>& out) {
  for (const auto& item : splitList(value)) {
    if (std::string why = checkIpOrCidr(item); !why.empty()) return why;
    std::string cidr = normalizeIpOrCidr(item);
    if (std::find(out.begin(), out.end(), cidr) == out.end()) out.push_back(std::move(cidr));
  }
  return {};
}

// "10m": digits, then an optional k, m or g (powers of 1024, either case). nullopt if invalid
// or out of range.
std::optional<uint64_t> parseByteSize(std::string_view text) {
  uint64_t multiplier = 1;
  if (!text.empty()) {
    switch (text.back()) {
      case 'k': case 'K': multiplier = uint64_t{1} << 10; break;
      case 'm': case 'M': multiplier = uint64_t{1} << 20; break;
      case 'g': case 'G': multiplier = uint64_t{1} << 30; break;
      default: break;
    }
    if (multiplier != 1) text.remove_suffix(1);
  }
  if (text.empty()) return std::nullopt;
  uint64_t value = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || ptr != text.data() + text.size()) return std::nullopt;
  constexpr uint64_t kMax = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
  if (value > kMax / multiplier) return std::nullopt;
  return value * multiplier;
}

// A literal path: starts with '/', no whitespace, control characters, '?' or '#'.
std::string checkPath(std::string_view path) {
  if (!path.starts_with("/")) return quote(path) + " must start with '/'";
  for (unsigned char c : path) {
    if (c <= 0x20 || c == 0x7f || c == '?' || c == '#') {
      return quote(path) + " must not contain spaces, control characters, '?' or '#'";
    }
  }
  return {};
}

// ---- the portico.dev/ annotations, each described once: its key and its reader --------

// What a reader says about a value: "" when it took it, else the whole message.
using AnnotationReader = std::string (*)(const std::string& value, Settings& settings);
struct Annotation {
  std::string_view key;
  AnnotationReader read;
};

std::string bad(const std::string& value, std::string_view why) { return quote(value) + " " + std::string(why); }

// A Go duration of at least 1ms.
std::string readMillisAnnotation(const std::string& value, std::optional<proxy::Millis>& out) {
  auto d = parseDuration(value);
  if (!d) return d.error().message;
  auto ms = std::chrono::duration_cast<proxy::Millis>(*d);
  if (ms.count() < 1) return bad(value, "must be at least 1ms");
  out = ms;
  return {};
}

// Decimal digits from min to max ("a number of <what>").
template <class T>
std::string readNumberAnnotation(const std::string& value, uint64_t min, uint64_t max, std::string_view what,
                                 std::optional<T>& out) {
  uint64_t n = 0;
  auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
  if (ec != std::errc() || ptr != value.data() + value.size() || n < min || n > max) {
    return bad(value, "must be a number of " + std::string(what) + " from " + std::to_string(min) + " to " +
                          std::to_string(max));
  }
  out = static_cast<T>(n);
  return {};
}

// A string kept as written when `valid` accepts it; else `"value" <why>`.
template <std::optional<std::string> Settings::*Member, bool (*Valid)(std::string_view), const char* Why>
std::string keepIfValid(const std::string& value, Settings& settings) {
  if (!Valid(value)) return bad(value, Why);
  settings.*Member = value;
  return {};
}
bool isAuthType(std::string_view v) { return v == "api-key" || v == "basic"; }
bool isUsableHeader(std::string_view v) { return isHttpToken(v) && !isReservedHeader(v); }
bool isRealm(std::string_view v) { return isHttpFieldValue(v) && v.find_first_of("\"\\") == std::string_view::npos; }
constexpr char kNotAuthType[] = "must be \"api-key\" or \"basic\" (use an APIRoute for jwt and external auth)";
constexpr char kNotSecretName[] = "is not a valid Secret name";
constexpr char kNotUsableHeader[] = "is not a usable header name";
constexpr char kNotRealm[] = "must not contain quotes, backslashes or control characters";
constexpr char kNotCookieName[] = "is not a valid cookie name";

std::optional<bool> parseBool(const std::string& value) {
  if (value == "true" || value == "false") return value == "true";
  return std::nullopt;
}
constexpr std::string_view kTrueOrFalse = "must be \"true\" or \"false\"";

constexpr Annotation kAnnotations[] = {
    {kSslRedirect,
     [](const std::string& v, Settings& s) -> std::string {
       auto b = parseBool(v);
       if (!b) return bad(v, kTrueOrFalse);
       s.sslRedirect = *b;
       return {};
     }},
    {kRewriteTarget,
     [](const std::string& v, Settings& s) -> std::string {
       if (v.find('$') != std::string::npos) {
         return bad(v, "must be a literal path: capture groups ($1) are not supported; the value "
                       "replaces the matched prefix");
       }
       if (std::string why = checkPath(v); !why.empty()) return why;
       s.rewriteTarget = v;
       return {};
     }},
    {kLoadBalancing,
     [](const std::string& v, Settings& s) -> std::string {
       s.loadBalancing = enumValue(kIngressLoadBalancingPolicies, v);
       return s.loadBalancing ? std::string() : bad(v, "must be " + choicesText(kIngressLoadBalancingPolicies));
     }},
    {kProxyBodySize,
     [](const std::string& v, Settings& s) -> std::string {
       auto bytes = parseByteSize(v);
       if (!bytes || *bytes == 0) return bad(v, "must be a size of at least 1 byte, such as \"512k\", \"10m\" or \"1g\"");
       s.maxRequestBodyBytes = *bytes;
       return {};
     }},
    {kConnectTimeout, [](const std::string& v, Settings& s) { return readMillisAnnotation(v, s.connectTimeout); }},
    {kRequestTimeout, [](const std::string& v, Settings& s) { return readMillisAnnotation(v, s.requestTimeout); }},
    {kAuthType, keepIfValid<&Settings::authType, isAuthType, kNotAuthType>},
    {kAuthSecret, keepIfValid<&Settings::authSecret, isDnsSubdomain, kNotSecretName>},
    {kAuthHeader, keepIfValid<&Settings::authHeader, isUsableHeader, kNotUsableHeader>},
    {kAuthRealm, keepIfValid<&Settings::authRealm, isRealm, kNotRealm>},
    {kRateLimitRequests,
     [](const std::string& v, Settings& s) {
       return readNumberAnnotation(v, 1, 1000000000, "requests", s.rateLimitRequests);
     }},
    {kRateLimitPeriod, [](const std::string& v, Settings& s) { return readMillisAnnotation(v, s.rateLimitPeriod); }},
    {kRateLimitBurst,
     [](const std::string& v, Settings& s) {
       return readNumberAnnotation(v, 0, 1000000000, "requests", s.rateLimitBurst);
     }},
    {kRateLimitKey,
     [](const std::string& v, Settings& s) -> std::string {
       auto parsed = parseRateLimitKey(v);
       if (!parsed) return parsed.error().message;
       s.rateLimitKey = std::move(parsed).value();
       return {};
     }},
    {kCorsAllowOrigins,
     [](const std::string& v, Settings& s) -> std::string {
       for (const auto& origin : splitList(v)) {
         if (std::string why = checkCorsOrigin(origin); !why.empty()) return why;
         if (std::find(s.corsOrigins.begin(), s.corsOrigins.end(), origin) == s.corsOrigins.end()) {
           s.corsOrigins.push_back(origin);
         }
       }
       return {};
     }},
    {kCorsAllowMethods,
     [](const std::string& v, Settings& s) -> std::string {
       for (const auto& method : splitList(v)) {
         if (method != "*" && !isHttpToken(method)) return bad(v, "must be a comma list of HTTP methods (or \"*\")");
         std::string upper = toUpper(method);
         if (std::find(s.corsMethods.begin(), s.corsMethods.end(), upper) == s.corsMethods.end()) {
           s.corsMethods.push_back(upper);
         }
       }
       return {};
     }},
    {kCorsAllowCredentials,
     [](const std::string& v, Settings& s) -> std::string {
       s.corsCredentials = parseBool(v);
       return s.corsCredentials ? std::string() : bad(v, kTrueOrFalse);
     }},
    {kAllowSourceRanges, [](const std::string& v, Settings& s) { return readCidrList(v, s.ipRules.allow); }},
    {kDenySourceRanges, [](const std::string& v, Settings& s) { return readCidrList(v, s.ipRules.deny); }},
    {kRetries,
     [](const std::string& v, Settings& s) { return readNumberAnnotation(v, 0, 10, "retries", s.retryAttempts); }},
    {kRetryOn,
     [](const std::string& v, Settings& s) -> std::string {
       proxy::RetrySpec conditions;
       for (const auto& condition : splitList(v)) {
         if (std::string why = applyRetryOn(condition, conditions); !why.empty()) return why;
       }
       s.retryOn = conditions;
       return {};
     }},
    {kHashOn,
     [](const std::string& v, Settings& s) -> std::string {
       auto parsed = parseHashOn(v);
       if (!parsed) return parsed.error().message;
       s.hashOn = std::move(parsed).value();
       return {};
     }},
    {kAffinityCookie, keepIfValid<&Settings::affinityCookie, isHttpToken, kNotCookieName>},
    {kHealthCheckPath,
     [](const std::string& v, Settings& s) -> std::string {
       if (std::string why = checkPath(v); !why.empty()) return why;
       s.healthCheckPath = v;
       return {};
     }},
    {kBackendProtocol,
     [](const std::string& v, Settings& s) -> std::string {
       if (v != "HTTP" && v != "HTTPS") return bad(v, "must be \"HTTP\" or \"HTTPS\"");
       s.backendHttps = v == "HTTPS";
       return {};
     }},
    {kBackendTlsCaSecret,
     [](const std::string& v, Settings& s) -> std::string {
       if (!isDnsSubdomain(v)) return bad(v, kNotSecretName);
       s.backendTls.caSecretName = v;
       return {};
     }},
    {kBackendTlsSni,
     [](const std::string& v, Settings& s) -> std::string {
       if (std::string why = checkTlsName(v); !why.empty()) return why;
       s.backendTls.sni = toLower(v);
       return {};
     }},
    {kBackendTlsSubjectAltNames,
     [](const std::string& v, Settings& s) -> std::string {
       for (const auto& name : splitList(v)) {
         if (std::string why = checkTlsName(name); !why.empty()) return why;
         s.backendTls.subjectAltNames.push_back(toLower(name));
       }
       return {};
     }},
    {kBackendTlsClientCertificateSecret,
     [](const std::string& v, Settings& s) -> std::string {
       if (!isDnsSubdomain(v)) return bad(v, kNotSecretName);
       s.backendTls.clientCertificateSecretName = v;
       return {};
     }},
    {kClientAuthCaSecret,
     [](const std::string& v, Settings& s) -> std::string {
       if (!isDnsSubdomain(v)) return bad(v, kNotSecretName);
       if (!s.clientAuthFields) s.clientAuthFields.emplace();
       s.clientAuthFields->caSecretName = v;
       return {};
     }},
    {kClientAuthMode,
     [](const std::string& v, Settings& s) -> std::string {
       auto mode = enumValue(kClientAuthModeNames, v);
       if (!mode) return bad(v, "must be " + choicesText(kClientAuthModeNames));
       if (!s.clientAuthFields) s.clientAuthFields.emplace();
       s.clientAuthFields->mode = *mode;
       return {};
     }},
    {kClientAuthCrlSecret,
     [](const std::string& v, Settings& s) -> std::string {
       if (!isDnsSubdomain(v)) return bad(v, kNotSecretName);
       if (!s.clientAuthFields) s.clientAuthFields.emplace();
       s.clientAuthFields->crlSecretName = v;
       return {};
     }},
    {kTlsMinVersion,
     [](const std::string& v, Settings& s) -> std::string {
       std::string why;
       auto only13 = tls13OnlyFrom(v, why);
       if (only13) s.tls13Only = *only13;
       return why;
     }},
    {kHstsMaxAge,
     [](const std::string& v, Settings& s) -> std::string {
       auto d = parseDuration(v);
       if (!d) return d.error().message;
       if (!s.hsts) s.hsts.emplace();
       s.hsts->maxAge = std::chrono::duration_cast<proxy::Millis>(*d);
       return {};
     }},
    {kHstsIncludeSubdomains,
     [](const std::string& v, Settings& s) -> std::string {
       auto b = parseBool(v);
       if (!b) return bad(v, kTrueOrFalse);
       if (!s.hsts) s.hsts.emplace();
       s.hsts->includeSubDomains = *b;
       return {};
     }},
    {kBackendTlsInsecureSkipVerify,
     [](const std::string& v, Settings& s) -> std::string {
       auto b = parseBool(v);
       if (!b) return bad(v, kTrueOrFalse);
       s.backendTls.insecureSkipVerify = *b;
       return {};
     }},
};

const Annotation* findAnnotation(std::string_view key) {
  for (const auto& a : kAnnotations) {
    if (a.key == key) return &a;
  }
  return nullptr;
}

// Reads the portico.dev/ annotations. Returns false if the Ingress must not be rendered
// (an unsupported feature or an invalid value); unknown ones are reported and ignored.
bool readAnnotations(const json& object, Settings& settings, Reporter& reporter) {
  const json* annotations = annotationsOf(object);
  if (!annotations) return true;
  bool ok = true;
  // nlohmann::json objects iterate in key order, so diagnostics are deterministic.
  for (auto it = annotations->begin(); it != annotations->end(); ++it) {
    const std::string& key = it.key();
    if (!key.starts_with(kAnnotationPrefix)) continue;
    std::string field = annotationField(key);
    bool unsupported = std::any_of(std::begin(kUnsupportedAnnotationPrefixes),
                                   std::end(kUnsupportedAnnotationPrefixes),
                                   [&](std::string_view p) { return key.starts_with(p); });
    const Annotation* annotation = findAnnotation(key);
    bool known = annotation != nullptr;
    if (!known && unsupported) {
      reporter.invalid(field, "UnsupportedFeature",
                       "is not a Portico annotation; the Ingress is not served rather than served "
                       "without it (see the auth-* and rate-limit-* annotations, or use an APIRoute)");
      ok = false;
      continue;
    }
    if (!known) {
      reporter.invalid(field, "UnknownAnnotation",
                       "unknown Portico annotation, ignored (see controller/render/ingress.h for "
                       "the supported ones)");
      continue;
    }
    if (!it->is_string()) {
      reporter.invalid(field, "InvalidAnnotation", "must be a string, not " + jsonTypeName(*it));
      ok = false;
      continue;
    }
    if (std::string why = annotation->read(it->get_ref<const std::string&>(), settings); !why.empty()) {
      reporter.invalid(field, "InvalidAnnotation", why);
      ok = false;
    }
  }
  return ok;
}

// Cross-checks the annotations that only make sense together and resolves the auth Secret
// (in the Ingress's namespace). False if the Ingress must not be served.
bool finishSettings(const json& object, Settings& settings, const ObjectIndex& index,
                    const std::string& ns, Reporter& reporter) {
  const json* annotations = annotationsOf(object);
  if (!annotations) return true;
  auto has = [&](std::string_view key) { return member(*annotations, key) != nullptr; };
  size_t before = reporter.count();
  auto needs = [&](std::string_view key, std::string_view other, std::string_view why = "") {
    reporter.invalid(annotationField(key), "InvalidAnnotation",
                     "needs " + std::string(other) + (why.empty() ? "" : " " + std::string(why)));
  };

  // Authentication.
  if (settings.authType && !settings.authSecret) needs(kAuthType, kAuthSecret);
  if (settings.authSecret && !settings.authType) needs(kAuthSecret, kAuthType);
  if (settings.authHeader && settings.authType != "api-key") needs(kAuthHeader, "portico.dev/auth-type: api-key");
  if (settings.authRealm && settings.authType != "basic") needs(kAuthRealm, "portico.dev/auth-type: basic");
  if (reporter.count() == before && settings.authType && settings.authSecret) {
    std::string field = annotationField(kAuthSecret);
    if (*settings.authType == "api-key") {
      auto keys = resolveSecret(index, ns, *settings.authSecret, field, reporter, apiKeysFromSecret);
      if (keys) {
        proxy::ApiKeyAuthSpec spec;
        spec.header = settings.authHeader.value_or("X-API-Key");
        spec.keys = std::move(*keys);
        settings.auth.apiKey = std::move(spec);
      }
    } else {
      auto htpasswd = resolveSecret(index, ns, *settings.authSecret, field, reporter, htpasswdFromSecret);
      if (htpasswd) {
        proxy::BasicAuthSpec spec;
        if (settings.authRealm) spec.realm = *settings.authRealm;
        spec.htpasswd = std::move(*htpasswd);
        settings.auth.basic = std::move(spec);
      }
    }
  }

  // Rate limit.
  for (auto key : {kRateLimitPeriod, kRateLimitBurst, kRateLimitKey}) {
    if (has(key) && !settings.rateLimitRequests && !has(kRateLimitRequests)) needs(key, kRateLimitRequests);
  }
  if (settings.rateLimitKey) {
    if (settings.rateLimitKey->first == proxy::RateLimitKey::Consumer && !has(kAuthType)) {
      needs(kRateLimitKey, kAuthType, "(Consumer is the authenticated consumer)");
    } else if (settings.rateLimitKey->first == proxy::RateLimitKey::Claim) {
      reporter.invalid(annotationField(kRateLimitKey), "InvalidAnnotation",
                       "Claim:NAME needs JWT authentication, which only an APIRoute has");
    }
  }
  if (settings.rateLimitRequests) {
    proxy::RateLimitSpec spec;
    spec.requests = *settings.rateLimitRequests;
    if (settings.rateLimitPeriod) spec.period = *settings.rateLimitPeriod;
    if (settings.rateLimitBurst) spec.burst = *settings.rateLimitBurst;
    if (settings.rateLimitKey) {
      spec.key = settings.rateLimitKey->first;
      spec.keyName = settings.rateLimitKey->second;
    }
    settings.rateLimit = spec;
  }

  // CORS.
  if (has(kCorsAllowMethods) && !has(kCorsAllowOrigins)) needs(kCorsAllowMethods, kCorsAllowOrigins);
  if (has(kCorsAllowCredentials) && !has(kCorsAllowOrigins)) needs(kCorsAllowCredentials, kCorsAllowOrigins);
  if (settings.corsCredentials.value_or(false) &&
      std::find(settings.corsOrigins.begin(), settings.corsOrigins.end(), "*") != settings.corsOrigins.end()) {
    reporter.invalid(annotationField(kCorsAllowCredentials), "InvalidAnnotation",
                     "cannot be true with the wildcard origin \"*\" in " + std::string(kCorsAllowOrigins));
  }
  if (!settings.corsOrigins.empty()) {
    proxy::CorsSpec spec;
    spec.allowOrigins = settings.corsOrigins;
    spec.allowMethods = settings.corsMethods;
    spec.allowCredentials = settings.corsCredentials.value_or(false);
    settings.cors = std::move(spec);
  }

  // Retries.
  if (has(kRetryOn) && !has(kRetries)) needs(kRetryOn, kRetries);
  if (settings.retryAttempts) {
    proxy::RetrySpec spec = settings.retryOn.value_or(proxy::RetrySpec{});
    if (!settings.retryOn) {
      spec.onConnectFailure = true;
      spec.onReset = true;
    }
    spec.attempts = *settings.retryAttempts;
    settings.retries = spec;
  }

  // Balancing.
  if (settings.hashOn && has(kLoadBalancing)) {
    reporter.invalid(annotationField(kHashOn), "InvalidAnnotation",
                     "selects ConsistentHash and conflicts with " + std::string(kLoadBalancing));
  }
  if (settings.affinityCookie && has(kHashOn)) {
    reporter.invalid(annotationField(kAffinityCookie), "InvalidAnnotation",
                     "cannot be combined with " + std::string(kHashOn) + " (both pin clients to endpoints)");
  }

  // TLS to the backends: refused rather than served in plaintext when a Secret is missing.
  const size_t beforeTls = reporter.count();
  for (auto key : {kBackendTlsCaSecret, kBackendTlsSni, kBackendTlsSubjectAltNames,
                   kBackendTlsClientCertificateSecret, kBackendTlsInsecureSkipVerify}) {
    if (has(key) && !settings.backendHttps) needs(key, "portico.dev/backend-protocol: HTTPS");
  }
  if (settings.backendTls.insecureSkipVerify) {
    for (auto key : {kBackendTlsCaSecret, kBackendTlsSubjectAltNames}) {
      if (has(key))
        reporter.invalid(annotationField(key), "InvalidAnnotation",
                         "has no effect with " + std::string(kBackendTlsInsecureSkipVerify) + ": \"true\"");
    }
  }
  if (settings.backendHttps && reporter.count() == beforeTls) {
    settings.upstreamTls = resolveBackendTls(settings.backendTls, "", index, ns, annotationField(kBackendTlsCaSecret),
                                             annotationField(kBackendTlsClientCertificateSecret), reporter);
  }

  // Client certificates: resolved here, so that a missing Secret blocks the Ingress.
  if (settings.clientAuthFields) {
    if (settings.clientAuthFields->caSecretName.empty()) {
      for (auto key : {kClientAuthMode, kClientAuthCrlSecret})
        if (has(key)) needs(key, kClientAuthCaSecret);
    } else {
      settings.clientAuth = resolveClientAuth(*settings.clientAuthFields, index, ns, annotationField(kClientAuthCaSecret),
                                              annotationField(kClientAuthCrlSecret), reporter);
    }
  }
  return reporter.count() == before;
}

// Translates one Ingress of our class into `out`.
class IngressTranslator {
 public:
  IngressTranslator(const json& object, const ObjectIndex& index, const RenderOptions& options,
                    const Settings& settings, Reporter& reporter)
      : object_(object), index_(index), options_(options), settings_(settings),
        reporter_(reporter), ns_(reporter.object().ns), name_(reporter.object().name) {}

  // Returns false if the Ingress is rejected as a whole.
  bool translate(TableBuilder& table, std::vector<std::string>& routeFields);

 private:
  void readRules(const json& rules, TableBuilder& table, std::vector<std::string>& routeFields);
  std::optional<proxy::RouteSpec> readPath(const json& path, const std::string& field,
                                           const std::string& host);
  // Resolves an IngressBackend at `field` into route.backends. False if the route must be
  // skipped; an unresolved Service still gives true (the route answers 503).
  bool readBackend(const json& backend, const std::string& field, proxy::RouteSpec& route);
  // False if anything was reported.
  bool readTls(const json& tls, TableBuilder& table);
  void applySettings(proxy::RouteSpec& route, bool isPath) const;

  const json& object_;
  const ObjectIndex& index_;
  const RenderOptions& options_;
  const Settings& settings_;
  Reporter& reporter_;
  std::string ns_;
  std::string name_;
  std::vector<std::string> ruleHosts_;  // valid, non-empty rule hosts, first-seen order
};

bool IngressTranslator::translate(TableBuilder& table, std::vector<std::string>& routeFields) {
  const json* spec = readObject(object_, "spec", "", reporter_, /*required=*/true);
  if (!spec) return false;
  size_t before = reporter_.count();
  const json* rules = readArray(*spec, "rules", "spec", reporter_);
  const json* defaultBackend = readObject(*spec, "defaultBackend", "spec", reporter_);
  if ((!rules || rules->empty()) && !defaultBackend) {
    if (reporter_.count() == before) {
      reporter_.invalid("spec", "InvalidField", "needs rules or a defaultBackend");
    }
    return false;
  }
  if (rules) readRules(*rules, table, routeFields);
  if (defaultBackend) {
    proxy::RouteSpec route;
    route.name = ns_ + "/" + name_ + "/default-backend";
    route.pathType = proxy::PathMatchType::Prefix;
    route.path = "/";
    if (readBackend(*defaultBackend, "spec.defaultBackend", route)) {
      applySettings(route, /*isPath=*/false);
      table.addRoute(std::move(route));
      routeFields.push_back("spec.defaultBackend");
    }
  }
  // TLS after the rules: entries without hosts use the rules' hosts.
  const json* tls = readArray(*spec, "tls", "spec", reporter_);
  const bool tlsClean = tls && readTls(*tls, table);
  if (settings_.clientAuth && !tlsClean) {
    // Hosts whose certificate did not resolve would be served without the client
    // certificates asked for: the Ingress is not served at all.
    if (!tls)
      reporter_.invalid(annotationField(kClientAuthCaSecret), "InvalidAnnotation",
                        "needs spec.tls: client certificates are asked for in the TLS handshake of its hosts");
    return false;
  }
  return true;
}

void IngressTranslator::readRules(const json& rules, TableBuilder& table,
                                  std::vector<std::string>& routeFields) {
  for (size_t i = 0; i < rules.size(); ++i) {
    std::string ruleField = indexField("spec.rules", i);
    const json& rule = rules[i];
    if (!rule.is_object()) {
      reporter_.invalid(ruleField, "InvalidField", "must be an object, not " + jsonTypeName(rule));
      continue;
    }
    std::string host;
    if (auto h = readString(rule, "host", ruleField, reporter_)) {
      host = toLower(*h);
    } else if (member(rule, "host")) {
      continue;  // wrong type, reported; never widen a rule to every host
    }
    if (!host.empty()) {
      if (std::string why = checkRouteHost(host); !why.empty()) {
        reporter_.invalid(childField(ruleField, "host"), "InvalidHost", quote(host) + " " + why);
        continue;
      }
      if (std::find(ruleHosts_.begin(), ruleHosts_.end(), host) == ruleHosts_.end()) {
        ruleHosts_.push_back(host);
      }
    }
    // A rule with a host and no http section is valid Kubernetes: its host falls through
    // to the default backend, which is what the catch-all route does anyway.
    const json* http = readObject(rule, "http", ruleField, reporter_);
    if (!http) continue;
    std::string httpField = childField(ruleField, "http");
    const json* paths = readArray(*http, "paths", httpField, reporter_, /*required=*/true);
    if (!paths) continue;
    std::string pathsField = childField(httpField, "paths");
    for (size_t j = 0; j < paths->size(); ++j) {
      std::string pathField = indexField(pathsField, j);
      auto route = readPath((*paths)[j], pathField, host);
      if (!route) continue;
      route->name = ns_ + "/" + name_ + "/rule" + std::to_string(i) + "-path" + std::to_string(j);
      table.addRoute(std::move(*route));
      routeFields.push_back(std::move(pathField));
    }
  }
}

std::optional<proxy::RouteSpec> IngressTranslator::readPath(const json& path,
                                                            const std::string& field,
                                                            const std::string& host) {
  if (!path.is_object()) {
    reporter_.invalid(field, "InvalidField", "must be an object, not " + jsonTypeName(path));
    return std::nullopt;
  }
  size_t before = reporter_.count();
  auto type = readString(path, "pathType", field, reporter_);
  auto value = readString(path, "path", field, reporter_);
  if (reporter_.count() != before) return std::nullopt;

  proxy::RouteSpec route;
  if (!host.empty()) route.hosts = {host};
  // ImplementationSpecific is ours to define: Portico treats it as Prefix (element-wise,
  // like Kubernetes' Prefix). A missing pathType (the API server requires one) likewise.
  std::string typeName = type.value_or("ImplementationSpecific");
  if (typeName == "Exact") {
    route.pathType = proxy::PathMatchType::Exact;
  } else if (typeName == "Prefix" || typeName == "ImplementationSpecific") {
    route.pathType = proxy::PathMatchType::Prefix;
  } else {
    reporter_.invalid(childField(field, "pathType"), "InvalidField",
                      quote(typeName) + " must be Exact, Prefix or ImplementationSpecific");
    return std::nullopt;
  }
  if (!value) {
    if (route.pathType == proxy::PathMatchType::Exact) {
      reporter_.invalid(childField(field, "path"), "InvalidField", "required with pathType Exact");
      return std::nullopt;
    }
    value = "/";
  }
  if (std::string why = checkPath(*value); !why.empty()) {
    reporter_.invalid(childField(field, "path"), "InvalidPath", why);
    return std::nullopt;
  }
  route.path = *value;
  const json* backend = readObject(path, "backend", field, reporter_, /*required=*/true);
  if (!backend || !readBackend(*backend, childField(field, "backend"), route)) return std::nullopt;
  applySettings(route, /*isPath=*/true);
  return route;
}

bool IngressTranslator::readBackend(const json& backend, const std::string& field,
                                    proxy::RouteSpec& route) {
  size_t before = reporter_.count();
  if (!backend.is_object()) {
    reporter_.invalid(field, "InvalidField", "must be an object, not " + jsonTypeName(backend));
    return false;
  }
  if (member(backend, "resource")) {
    reporter_.invalid(childField(field, "resource"), "UnsupportedBackend",
                      "resource backends are not supported; this path is not served");
    return false;
  }
  const json* service = readObject(backend, "service", field, reporter_);
  if (!service) {
    if (reporter_.count() == before) {
      reporter_.invalid(field, "InvalidBackend", "needs service (name and port)");
    }
    return false;
  }
  std::string serviceField = childField(field, "service");
  auto serviceName = readString(*service, "name", serviceField, reporter_, /*required=*/true);
  const json* port = readObject(*service, "port", serviceField, reporter_, /*required=*/true);
  if (reporter_.count() != before) return false;
  std::string portField = childField(serviceField, "port");
  if (!isDnsLabel(*serviceName)) {
    reporter_.invalid(childField(serviceField, "name"), "InvalidBackend",
                      quote(*serviceName) + " is not a valid Service name");
    return false;
  }
  ServicePortRef portRef;
  const json* number = member(*port, "number");
  const json* name = member(*port, "name");
  if (number && !name && number->is_number_integer() && number->get<int64_t>() >= 1 &&
      number->get<int64_t>() <= 65535) {
    portRef.number = static_cast<uint16_t>(number->get<int64_t>());
  } else if (name && !number && name->is_string() && !name->get_ref<const std::string&>().empty()) {
    portRef.name = name->get<std::string>();
  } else {
    reporter_.invalid(portField, "InvalidBackend",
                      "needs exactly one of number (1-65535) and name");
    return false;
  }
  if (options_.standalone) {
    reporter_.unresolved(childField(serviceField, "name"), "BackendNotFound",
                         "service " + quote(*serviceName) + ": service backends need a cluster");
    return true;  // served, 503
  }
  auto spec = resolveServiceBackend(index_, ns_, *serviceName, portRef);
  if (!spec) {
    bool portProblem = index_.service(ns_, *serviceName) != nullptr;
    reporter_.unresolved(portProblem ? portField : childField(serviceField, "name"),
                         "BackendNotFound", spec.error().message);
    return true;  // served, 503 until the Service appears
  }
  if (settings_.upstreamTls) {
    spec->tls = settings_.upstreamTls;
    if (spec->tls->serverName.empty()) spec->tls->serverName = *serviceName + "." + ns_ + ".svc";
  }
  route.backends.push_back(std::move(spec).value());
  return true;
}

void IngressTranslator::applySettings(proxy::RouteSpec& route, bool isPath) const {
  if (settings_.loadBalancing) route.loadBalancing = *settings_.loadBalancing;
  if (settings_.hashOn) {
    route.loadBalancing = proxy::LoadBalancingPolicy::ConsistentHash;
    route.hashOn = *settings_.hashOn;
  }
  if (settings_.affinityCookie) {
    route.sessionAffinity = proxy::SessionAffinitySpec{};
    route.sessionAffinity->cookieName = *settings_.affinityCookie;
  }
  if (settings_.healthCheckPath) {
    route.healthCheck = proxy::HealthCheckSpec{};
    route.healthCheck->path = *settings_.healthCheckPath;
  }
  route.retries = settings_.retries;
  route.ipRules = settings_.ipRules;
  route.cors = settings_.cors;
  route.auth = settings_.auth;
  route.rateLimit = settings_.rateLimit;
  if (settings_.connectTimeout) route.timeouts.connect = *settings_.connectTimeout;
  if (settings_.requestTimeout) route.timeouts.request = *settings_.requestTimeout;
  route.maxRequestBodyBytes = settings_.maxRequestBodyBytes;
  // The default backend has no path of its own to rewrite.
  if (isPath && settings_.rewriteTarget) route.rewritePathPrefix = settings_.rewriteTarget;
}

// Problems here never drop routes: the hosts are then served over plain HTTP only.
bool IngressTranslator::readTls(const json& tls, TableBuilder& table) {
  const size_t before = reporter_.count();
  std::vector<std::string> redirectHosts;
  for (size_t i = 0; i < tls.size(); ++i) {
    std::string field = indexField("spec.tls", i);
    const json& entry = tls[i];
    if (!entry.is_object()) {
      reporter_.invalid(field, "InvalidField", "must be an object, not " + jsonTypeName(entry));
      continue;
    }
    std::vector<std::string> hosts;
    if (const json* list = readArray(entry, "hosts", field, reporter_)) {
      std::string hostsField = childField(field, "hosts");
      for (size_t j = 0; j < list->size(); ++j) {
        const json& h = (*list)[j];
        std::string hf = indexField(hostsField, j);
        if (!h.is_string()) {
          reporter_.invalid(hf, "InvalidField", "must be a string, not " + jsonTypeName(h));
          continue;
        }
        std::string host = toLower(h.get_ref<const std::string&>());
        if (std::string why = checkRouteHost(host); !why.empty()) {
          reporter_.invalid(hf, "InvalidHost", quote(host) + " " + why);
          continue;
        }
        if (std::find(hosts.begin(), hosts.end(), host) == hosts.end()) hosts.push_back(host);
      }
      if (list->empty()) hosts = ruleHosts_;
    } else if (!member(entry, "hosts")) {
      hosts = ruleHosts_;
    }
    auto secretName = readString(entry, "secretName", field, reporter_);
    std::string secretField = childField(field, "secretName");
    if (!secretName) {
      if (!member(entry, "secretName")) {
        reporter_.unresolved(secretField, "SecretNotFound",
                             "required: Portico has no default certificate; these hosts are "
                             "served over plain HTTP");
      }
      continue;
    }
    if (hosts.empty()) {
      reporter_.invalid(field, "InvalidField",
                        "no hosts: certificates are selected by host name (SNI)");
      continue;
    }
    auto pair = resolveTlsSecret(index_, ns_, *secretName, secretField, reporter_);
    if (!pair) continue;
    proxy::CertificateSpec cert;
    cert.name = ns_ + "/" + *secretName;
    cert.hosts = hosts;
    cert.certificatePem = std::move(pair->certificatePem);
    cert.privateKeyPem = std::move(pair->privateKeyPem);
    cert.clientAuth = settings_.clientAuth;
    if (settings_.hsts) cert.hsts = hstsHeader(*settings_.hsts);
    cert.tls13Only = settings_.tls13Only;
    table.addCertificate(std::move(cert));
    if (settings_.sslRedirect) {
      redirectHosts.insert(redirectHosts.end(), hosts.begin(), hosts.end());
    }
  }
  table.addRedirectHosts(redirectHosts);
  return reporter_.count() == before;
}

// spec.ingressClassName, then the legacy annotation, then the default class.
bool isOurs(const json& object, const ClassSelector& classes, const RenderOptions& options,
            Reporter& reporter) {
  const json* spec = member(object, "spec");
  if (const json* cls = spec ? member(*spec, "ingressClassName") : nullptr) {
    if (!cls->is_string()) {
      // Cannot tell whose it is; the API server never serves this, so say so once.
      reporter.invalid("spec.ingressClassName", "InvalidField",
                       "must be a string, not " + jsonTypeName(*cls));
      return false;
    }
    return classes.isOurClass(cls->get<std::string>());
  }
  if (const json* annotations = annotationsOf(object)) {
    if (const json* legacy = member(*annotations, kLegacyClassAnnotation)) {
      return legacy->is_string() && legacy->get_ref<const std::string&>() == options.ingressClass;
    }
  }
  return classes.weAreDefault();
}

}  // namespace

std::optional<ObjectOutput> renderIngress(const OrderedObject& o, const ObjectIndex& index,
                                          const ClassSelector& classes, const RenderOptions& options,
                                          std::vector<Diagnostic>& diagnostics, bool& owned,
                                          std::unordered_set<std::string>* seen) {
  owned = false;
  if (!o.object->is_object()) return std::nullopt;  // nothing to name it by
  Reporter reporter(diagnostics, ObjectRef{std::string(kKind), o.ns, o.name});
  // Class first: another controller's Ingress is none of our business, not even its
  // problems.
  if (!isOurs(*o.object, classes, options, reporter)) return std::nullopt;
  if (o.name.empty()) {
    reporter.invalid("metadata.name", "InvalidField", "required");
    return std::nullopt;
  }
  if (seen && !seen->insert(o.ns + "/" + o.name).second) {
    reporter.invalid("metadata.name", "DuplicateObject",
                     "another Ingress has the same namespace and name");
    return std::nullopt;
  }
  Settings settings;
  if (!readAnnotations(*o.object, settings, reporter)) return std::nullopt;
  if (!finishSettings(*o.object, settings, index, o.ns, reporter)) return std::nullopt;
  // Translate into a scratch builder so that an unexpected exception leaves nothing of
  // this object behind.
  TableBuilder scratch;
  std::vector<std::string> routeFields;
  bool accepted = false;
  try {
    accepted = IngressTranslator(*o.object, index, options, settings, reporter)
                   .translate(scratch, routeFields);
  } catch (const std::exception& e) {
    reporter.invalid("", "InternalError", std::string("render failed: ") + e.what());
    return std::nullopt;
  }
  if (!accepted) return std::nullopt;
  owned = true;
  ObjectOutput out{o.created, o.ns, o.name, std::string(kKind), std::move(scratch).finish(),
                   std::move(routeFields)};
  if (out.part.routes.empty()) return std::nullopt;
  return out;
}

void renderIngresses(const std::vector<const json*>& objects, const ObjectIndex& index,
                     const ClassSelector& classes, const RenderOptions& options,
                     std::vector<ObjectOutput>& outputs, std::vector<Diagnostic>& diagnostics,
                     std::vector<ObjectRef>& owned) {
  const std::vector<OrderedObject> ordered = inCreationOrder(objects);
  std::unordered_set<std::string> seen;
  seen.reserve(ordered.size());
  for (const auto& o : ordered) {
    bool isOwned = false;
    auto out = renderIngress(o, index, classes, options, diagnostics, isOwned, &seen);
    if (isOwned) owned.push_back(ObjectRef{std::string(kKind), o.ns, o.name});
    if (out) outputs.push_back(std::move(*out));
  }
}

}  // namespace portico::controller
