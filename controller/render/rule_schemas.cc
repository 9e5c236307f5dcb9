#include "controller/render/rule_schemas.h"

#include <algorithm>
#include <chrono>
#include <limits>

#include <re2/re2.h>

#include "controller/render/api_names.h"
#include "controller/render/policies.h"
#include "controller/render/validation.h"

namespace portico::controller {
namespace {

using nlohmann::json;
using nlohmann::ordered_json;
using namespace std::chrono_literals;

std::string ms(proxy::Millis t) { return std::to_string(t.count()) + "ms"; }

constexpr uint64_t kMaxCount = 1000000;  // circuit breaker limits

// retries.on: a list of conditions (applyRetryOn), a bare status code as good as a quoted one.
void readRetryOn(const json& on, const std::string& field, proxy::RetrySpec& spec, Reporter& reporter) {
  if (!on.is_array()) {
    reporter.invalid(field, "InvalidField", "must be a list, not " + jsonTypeName(on));
    return;
  }
  if (on.empty()) reporter.invalid(field, "InvalidField", "needs at least one condition");
  for (size_t i = 0; i < on.size(); ++i) {
    const json& c = on[i];
    std::string f = indexField(field, i);
    std::string why;
    if (c.is_number_integer()) {
      why = applyRetryOn(c.dump(), spec);
    } else if (!c.is_string()) {
      why = "must be a string, not " + jsonTypeName(c);
    } else {
      why = applyRetryOn(c.get_ref<const std::string&>(), spec);
    }
    if (!why.empty()) reporter.invalid(f, "InvalidField", why);
  }
}

void viewRetryOn(const proxy::RetrySpec& s, ordered_json& out) {
  out["onConnectFailure"] = s.onConnectFailure;
  out["onReset"] = s.onReset;
  out["onTimeout"] = s.onTimeout;
  out["on5xx"] = s.on5xx;
  out["onStatuses"] = s.onStatuses;
}

// A Host header: a DNS name, optionally with :port (lower-cased).
std::string checkHostHeader(const std::string& written, const std::string& lower) {
  std::string_view name = lower;
  if (size_t colon = name.rfind(':'); colon != std::string_view::npos && checkHostPort(name).empty()) {
    name = name.substr(0, colon);
  }
  return isDnsSubdomain(name) ? std::string() : quote(written) + " must be a DNS name, optionally with :port";
}

// A header name (an HTTP token), or "*" where `allowStar`.
std::string checkHeaderName(const std::string& name, bool allowStar) {
  return (allowStar && name == "*") || isHttpToken(name) ? std::string() : quote(name) + " is not a valid header name";
}
std::string headerOrStar(const std::string& name, const std::string&) { return checkHeaderName(name, true); }
std::string headerName(const std::string& name, const std::string&) { return checkHeaderName(name, false); }

// A header Portico may set on the request (not one the proxy manages).
std::string usableHeader(const std::string& name, const std::string&) {
  return isHttpToken(name) && !isReservedHeader(name) ? std::string() : quote(name) + " is not a usable header name";
}

// A check: `"value" <why>` unless `valid` accepts the value as written.
auto validOr(bool (*valid)(std::string_view), std::string why) {
  return [valid, why](const std::string& value, const std::string&) {
    return valid(value) ? std::string() : quote(value) + " " + why;
  };
}
bool isHttpScheme(std::string_view s) { return s == "http" || s == "https"; }

std::string notEmpty(const std::string& value, const std::string&) {
  return value.empty() ? "must not be empty" : std::string();
}

using HeaderPairs = std::vector<std::pair<std::string, std::string>>;

// A header edit map (name -> value), in name order (JSON objects iterate sorted).
auto readHeaderMap(HeaderPairs proxy::HeaderEdits::*out) {
  return [out](const json& map, const std::string& f, proxy::HeaderEdits& edits, Reporter& reporter) {
    if (!map.is_object()) {
      reporter.invalid(f, "InvalidField", "must be an object, not " + jsonTypeName(map));
      return;
    }
    for (auto it = map.begin(); it != map.end(); ++it) {
      std::string kf = childField(f, it.key());
      if (!isHttpToken(it.key())) {
        reporter.invalid(kf, "InvalidField", quote(it.key()) + " is not a valid header name");
      } else if (isReservedHeader(it.key())) {
        reporter.invalid(kf, "InvalidField", quote(it.key()) + " is managed by the proxy");
      } else if (!it->is_string()) {
        reporter.invalid(kf, "InvalidField", "must be a string, not " + jsonTypeName(*it));
      } else if (!isHttpFieldValue(it->get_ref<const std::string&>())) {
        reporter.invalid(kf, "InvalidField", "must not contain control characters");
      } else {
        (edits.*out).emplace_back(it.key(), it->get<std::string>());
      }
    }
  };
}

auto viewHeaderMap(std::string key, HeaderPairs proxy::HeaderEdits::*pairs) {
  return [key, pairs](const proxy::HeaderEdits& edits, ordered_json& out) {
    ordered_json list = ordered_json::array();
    for (const auto& [name, value] : edits.*pairs) list.push_back({name, value});
    out[key] = std::move(list);
  };
}

}  // namespace

std::string checkRequestPath(std::string_view path) {
  bool bad = !path.starts_with("/") || !isHttpFieldValue(path) || path.find_first_of(" #") != std::string::npos;
  return bad ? quote(path) + " must start with '/' and have no spaces, control characters or '#'" : std::string();
}

const Schema<proxy::HeaderMatch>& headerMatchSchema() {
  using S = proxy::HeaderMatch;
  using proxy::HeaderMatchType;
  static const Schema<S> schema{
      field::string("name", &S::name, {.required = true, .check = headerName}),
      // The value is judged by the type.
      field::stopIfInvalid(field::enumeration("type", &S::type, kHeaderMatchTypeNames,
                                              {.whenAbsent = HeaderMatchType::Exact})),
      field::custom<S>(
          "value",
          [](const json& value, const std::string& f, S& s, Reporter& reporter) {
            if (s.type == HeaderMatchType::Present) {
              reporter.invalid(f, "InvalidField", "must be empty for type Present");
            } else if (!value.is_string()) {
              reporter.invalid(f, "InvalidField", "must be a string, not " + jsonTypeName(value));
            } else if (s.value = value.get<std::string>(); s.type == HeaderMatchType::RegularExpression) {
              if (std::string error = regexError(s.value); !error.empty()) {
                reporter.invalid(f, "InvalidRegex", "invalid RE2: " + error);
              }
            } else if (!isHttpFieldValue(s.value)) {
              reporter.invalid(f, "InvalidField", "must not contain control characters");
            }
          },
          [](const S& s, ordered_json& out) { out["value"] = s.value; },
          [](S& s, const std::string& f, Reporter& reporter) {
            if (s.type != HeaderMatchType::Present) reporter.invalid(f, "InvalidField", "required");
          }),
  };
  return schema;
}

const Schema<proxy::QueryMatch>& queryMatchSchema() {
  using S = proxy::QueryMatch;
  static const Schema<S> schema{
      field::string("name", &S::name, {.required = true, .check = notEmpty}),
      field::string("value", &S::value, {.required = true}),
  };
  return schema;
}

const Schema<proxy::SessionAffinitySpec>& sessionAffinitySchema() {
  using S = proxy::SessionAffinitySpec;
  static const Schema<S> schema{
      field::string("cookieName", &S::cookieName, {.check = validOr(isHttpToken, "is not a valid cookie name")}),
      field::duration("ttl", &S::ttl, {.min = 0ms}),
  };
  return schema;
}

const Schema<proxy::RouteSpec>& loadBalancingSchema() {
  using S = proxy::RouteSpec;
  using proxy::LoadBalancingPolicy;
  static const Schema<S> schema{
      // hashOn and sessionAffinity are judged against the policy: not without a good one.
      field::stopIfInvalid(field::enumeration("policy", &S::loadBalancing, kLoadBalancingPolicyNames,
                                              {.whenAbsent = LoadBalancingPolicy::RoundRobin})),
      field::custom<S>(
          "hashOn",
          [](const json& value, const std::string& f, S& route, Reporter& reporter) {
            if (!value.is_string()) {
              reporter.invalid(f, "InvalidField", "must be a string, not " + jsonTypeName(value));
            } else if (route.loadBalancing != LoadBalancingPolicy::ConsistentHash) {
              reporter.invalid(f, "InvalidField", "is only valid with policy ConsistentHash");
            } else if (auto key = parseHashOn(value.get_ref<const std::string&>()); !key) {
              reporter.invalid(f, "InvalidField", key.error().message);
            } else {
              route.hashOn = std::move(key).value();
            }
          },
          {}),
      field::object("sessionAffinity", &S::sessionAffinity, sessionAffinitySchema()),
      field::check<S>([](const S& route, const std::string& field, Reporter& reporter) {
        if (route.sessionAffinity && route.loadBalancing == LoadBalancingPolicy::ConsistentHash) {
          reporter.invalid(childField(field, "sessionAffinity"), "InvalidField",
                           "cannot be combined with policy ConsistentHash (both pin clients to "
                           "endpoints); use hashOn: Cookie:NAME instead");
        }
      }),
      field::count("panicThresholdPercent", &S::panicThresholdPercent, {.max = 100}),
  };
  return schema;
}

const Schema<proxy::Timeouts>& timeoutsSchema() {
  using S = proxy::Timeouts;
  static const Schema<S> schema{
      field::duration("connect", &S::connect, {.min = 1ms}),
      field::duration("request", &S::request, {.min = 1ms}),
      field::duration("idle", &S::idle, {.min = 1ms}),
  };
  return schema;
}

const Schema<proxy::RedirectSpec>& redirectSchema() {
  using S = proxy::RedirectSpec;
  static const Schema<S> schema{
      field::string("scheme", &S::scheme, {.check = validOr(isHttpScheme, "must be http or https")}),
      field::string("host", &S::host,
                    {.normalize = toLower,
                     .check = [](const std::string& written, const std::string& lower) {
                       return isDnsSubdomain(lower) ? std::string()
                                                    : quote(written) + " must be a DNS name (put the port in port)";
                     }}),
      field::count("port", &S::port, {.min = 1, .max = 65535, .belowMin = "must be from 1 to 65535"}),
      field::string("path", &S::path,
                    {.check = [](const std::string& p, const std::string&) { return checkRequestPath(p); },
                     .reason = "InvalidPath"}),
      field::count("statusCode", &S::status, {.max = 999, .view = "status"}),
      field::check<S>([](const S& s, const std::string& field, Reporter& reporter) {
        if (s.status != 301 && s.status != 302 && s.status != 303 && s.status != 307 && s.status != 308) {
          reporter.invalid(childField(field, "statusCode"), "InvalidField",
                           std::to_string(s.status) + " must be 301, 302, 303, 307 or 308");
        }
        if (!s.scheme && !s.host && !s.port && !s.path) {
          reporter.invalid(field, "InvalidField",
                           "needs at least one of scheme, host, port or path (else it redirects to itself)");
        }
      }),
  };
  return schema;
}

const Schema<proxy::RegexRewriteSpec>& regexRewriteSchema() {
  using S = proxy::RegexRewriteSpec;
  static const Schema<S> schema{
      field::string("pattern", &S::pattern, {.required = true}),
      field::string("substitution", &S::substitution, {.required = true}),
      field::checkIfClean<S>([](const S& s, const std::string& field, Reporter& reporter) {
        RE2::Options options;
        options.set_log_errors(false);
        RE2 re(s.pattern, options);
        std::string error;
        if (s.pattern.empty()) {
          reporter.invalid(childField(field, "pattern"), "InvalidField", "must not be empty");
        } else if (!re.ok()) {
          reporter.invalid(childField(field, "pattern"), "InvalidRegex", "invalid RE2: " + re.error());
        } else if (!re.CheckRewriteString(s.substitution, &error)) {
          reporter.invalid(childField(field, "substitution"), "InvalidField", error);
        } else if (!isHttpFieldValue(s.substitution) || s.substitution.find_first_of(" #") != std::string::npos) {
          reporter.invalid(childField(field, "substitution"), "InvalidPath",
                           "must not contain spaces, control characters or '#'");
        }
      }),
  };
  return schema;
}

const Schema<proxy::RouteSpec>& rewriteSchema() {
  using S = proxy::RouteSpec;
  static const Schema<S> schema{
      field::object("regex", &S::rewritePathRegex, regexRewriteSchema()),
      field::string("pathPrefix", &S::rewritePathPrefix,
                    {.check = [](const std::string& prefix, const std::string&) {
                      if (!prefix.starts_with("/")) return quote(prefix) + " must start with '/'";
                      if (!isHttpFieldValue(prefix) || prefix.find_first_of(" ?#") != std::string::npos) {
                        return quote(prefix) + " must not contain spaces, control characters, '?' or '#'";
                      }
                      return std::string();
                    },
                     .reason = "InvalidPath"}),
      field::check<S>([](const S& route, const std::string& field, Reporter& reporter) {
        if (route.rewritePathPrefix && route.pathType == proxy::PathMatchType::RegularExpression) {
          reporter.invalid(childField(field, "pathPrefix"), "InvalidField",
                           "needs a match.path of type Exact or Prefix");
        }
      }),
      field::string("host", &S::rewriteHost,
                    {.normalize = toLower,
                     .check = [](const std::string& written, const std::string& lower) {
                       std::string_view name = lower;
                       if (size_t colon = name.rfind(':'); colon != std::string_view::npos) {
                         std::string_view port = name.substr(colon + 1);
                         bool digits = !port.empty() && port.size() <= 5 &&
                                       std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; });
                         if (digits) name = name.substr(0, colon);
                       }
                       return isDnsSubdomain(name) ? std::string()
                                                   : quote(written) + " must be a DNS name, optionally with :port";
                     }}),
  };
  return schema;
}

const Schema<proxy::HeaderEdits>& headerEditsSchema() {
  using S = proxy::HeaderEdits;
  static const Schema<S> schema{
      field::custom<S>("set", readHeaderMap(&S::set), viewHeaderMap("set", &S::set)),
      field::custom<S>("add", readHeaderMap(&S::add), viewHeaderMap("add", &S::add)),
      field::strings("remove", &S::remove,
                     {.check = [](const std::string& name, const std::string&) {
                        if (!isHttpToken(name)) return std::string("must be a header name");
                        return isReservedHeader(name) ? quote(name) + " is managed by the proxy" : std::string();
                      },
                      .unique = false}),
  };
  return schema;
}

const Schema<proxy::RouteSpec>& limitsSchema() {
  using S = proxy::RouteSpec;
  static const Schema<S> schema{
      field::count("maxRequestBodyBytes", &S::maxRequestBodyBytes,
                   {.max = static_cast<uint64_t>(std::numeric_limits<int64_t>::max())}),
  };
  return schema;
}

const Schema<proxy::IpRulesSpec>& ipRulesSchema() {
  using S = proxy::IpRulesSpec;
  const field::StringListOptions cidrs{
      .normalize = normalizeIpOrCidr,
      .check = [](const std::string& written, const std::string&) { return checkIpOrCidr(written); },
      .reason = "InvalidCIDR"};
  static const Schema<S> schema{
      field::strings("allow", &S::allow, cidrs),
      field::strings("deny", &S::deny, cidrs),
      field::checkIfClean<S>([](const S& s, const std::string& field, Reporter& reporter) {
        if (s.empty()) reporter.invalid(field, "InvalidField", "needs allow or deny entries");
      }),
  };
  return schema;
}

const Schema<proxy::CorsSpec>& corsSchema() {
  using S = proxy::CorsSpec;
  static const Schema<S> schema{
      field::strings("allowOrigins", &S::allowOrigins,
                     {.check = [](const std::string& o, const std::string&) { return checkCorsOrigin(o); }}),
      field::strings("allowMethods", &S::allowMethods,
                     {.normalize = [](std::string_view m) { return m == "*" ? std::string(m) : toUpper(m); },
                      .check = headerOrStar}),
      field::strings("allowHeaders", &S::allowHeaders, {.check = headerOrStar}),
      field::strings("exposeHeaders", &S::exposeHeaders, {.check = headerOrStar}),
      field::boolean("allowCredentials", &S::allowCredentials),
      field::check<S>([](const S& s, const std::string& field, Reporter& reporter) {
        if (s.allowCredentials &&
            std::find(s.allowOrigins.begin(), s.allowOrigins.end(), "*") != s.allowOrigins.end()) {
          reporter.invalid(childField(field, "allowCredentials"), "InvalidField",
                           "cannot be used with the wildcard origin \"*\" (browsers refuse it); list the origins");
        }
      }),
      // Seconds as an integer, or a duration such as "10m"; at most a day.
      field::custom<S>(
          "maxAge",
          [](const json& value, const std::string& f, S& s, Reporter& reporter) {
            if (value.is_string()) {
              if (auto ms = field::detail::readDurationValue(value, f, 0ms, std::nullopt, {}, reporter)) {
                auto seconds = std::chrono::duration_cast<std::chrono::seconds>(*ms);
                if (seconds.count() > 86400) {
                  reporter.invalid(f, "InvalidField", "must be at most 24h (86400 seconds)");
                } else {
                  s.maxAge = seconds;
                }
              }
            } else if (auto n = field::detail::readCountValue(value, f, 0, 86400, {}, reporter)) {
              s.maxAge = std::chrono::seconds(*n);
            }
          },
          [](const S& s, ordered_json& out) {
            out["maxAgeSeconds"] = s.maxAge ? ordered_json(s.maxAge->count()) : ordered_json();
          }),
      field::checkIfClean<S>([](const S& s, const std::string& field, Reporter& reporter) {
        if (s.allowOrigins.empty()) {
          reporter.invalid(childField(field, "allowOrigins"), "InvalidField", "needs at least one origin (or \"*\")");
        }
      }),
  };
  return schema;
}

const Schema<proxy::RateLimitSpec>& rateLimitSchema() {
  using S = proxy::RateLimitSpec;
  static const Schema<S> schema{
      field::count("requests", &S::requests,
                   {.required = true,
                    .min = 1,
                    .max = 1000000000,
                    .belowMin = "must be at least 1 (remove rateLimit to turn it off)"}),
      field::duration("period", &S::period, {.required = true, .min = 1ms}),
      field::count("burst", &S::burst, {.max = 1000000000}),
      field::custom<S>(
          "key",
          [](const json& value, const std::string& f, S& s, Reporter& reporter) {
            if (!value.is_string()) {
              reporter.invalid(f, "InvalidField", "must be a string, not " + jsonTypeName(value));
            } else if (auto parsed = parseRateLimitKey(value.get_ref<const std::string&>()); !parsed) {
              reporter.invalid(f, "InvalidField", parsed.error().message);
            } else {
              s.key = parsed->first;
              s.keyName = parsed->second;
            }
          },
          [](const S& s, ordered_json& out) {
            out["key"] = std::string(enumName(kRateLimitKeyNames, s.key));
            out["keyName"] = s.keyName;
          }),
      field::custom<S>(
          "mode",
          [](const json& value, const std::string& f, S& s, Reporter& reporter) {
            if (!value.is_string()) {
              reporter.invalid(f, "InvalidField", "must be a string, not " + jsonTypeName(value));
            } else if (value == "Global") {
              s.global = true;
            } else if (value != "Local") {
              reporter.invalid(f, "InvalidField", quote(value.get<std::string>()) + " must be Local or Global");
            }
          },
          [](const S& s, ordered_json& out) { out["global"] = s.global; }),
      field::custom<S>(
          "failureMode",
          [](const json& value, const std::string& f, S& s, Reporter& reporter) {
            if (!value.is_string()) {
              reporter.invalid(f, "InvalidField", "must be a string, not " + jsonTypeName(value));
            } else if (value != "Open" && value != "Closed") {
              reporter.invalid(f, "InvalidField", quote(value.get<std::string>()) + " must be Open or Closed");
            } else if (s.global) {
              s.failOpen = value == "Open";
            } else {
              reporter.invalid(f, "InvalidField", "only applies to mode Global (a local limit cannot fail)");
            }
          },
          [](const S& s, ordered_json& out) { out["failOpen"] = s.failOpen; }),
  };
  return schema;
}

const Schema<proxy::ApiKeyAuthSpec>& apiKeyAuthSchema() {
  using S = proxy::ApiKeyAuthSpec;
  static const Schema<S> schema{
      field::string("header", &S::header, {.check = usableHeader}),
      field::string("query", &S::query, {.check = notEmpty}),
      field::known<S>("secretName"),
  };
  return schema;
}

const Schema<proxy::BasicAuthSpec>& basicAuthSchema() {
  using S = proxy::BasicAuthSpec;
  static const Schema<S> schema{
      field::known<S>("secretName"),
      field::string("realm", &S::realm, {.check = [](const std::string& realm, const std::string&) {
                      return isHttpFieldValue(realm) && realm.find_first_of("\"\\") == std::string::npos
                                 ? std::string()
                                 : "must not contain quotes, backslashes or control characters";
                    }}),
  };
  return schema;
}

const Schema<proxy::JwtAuthSpec>& jwtAuthSchema() {
  using S = proxy::JwtAuthSpec;
  static const Schema<S> schema{
      field::string("issuer", &S::issuer, {.check = notEmpty}),
      field::strings("audiences", &S::audiences, {}),
      field::known<S>("jwksURI"),
      field::known<S>("secretName"),
      field::known<S>("jwksTLS"),  // the backendTLS fields; read with the Secrets (rule_policies.cc)
      // claim -> header (claims in sorted order, as JSON objects iterate).
      field::custom<S>(
          "forwardClaims",
          [](const json& claims, const std::string& f, S& s, Reporter& reporter) {
            if (!claims.is_object()) {
              reporter.invalid(f, "InvalidField", "must be an object, not " + jsonTypeName(claims));
              return;
            }
            for (auto it = claims.begin(); it != claims.end(); ++it) {
              std::string kf = childField(f, it.key());
              if (it.key().empty()) {
                reporter.invalid(kf, "InvalidField", "the claim name must not be empty");
              } else if (!it->is_string()) {
                reporter.invalid(kf, "InvalidField", "must be a header name, not " + jsonTypeName(*it));
              } else if (std::string why = usableHeader(it->get<std::string>(), {}); !why.empty()) {
                reporter.invalid(kf, "InvalidField", why);
              } else {
                s.forwardClaims.emplace_back(it.key(), it->get<std::string>());
              }
            }
          },
          {}),
      field::duration("leeway", &S::leeway, {.max = proxy::Millis(10min), .aboveMax = "must be at most 10m"}),
  };
  return schema;
}

const Schema<proxy::ExternalAuthSpec>& externalAuthSchema() {
  using S = proxy::ExternalAuthSpec;
  static const Schema<S> schema{
      field::string("url", &S::url,
                    {.required = true,
                     .check = [](const std::string& url, const std::string&) { return checkHttpUrl(url); }}),
      field::duration("timeout", &S::timeout, {.min = 1ms}),
      field::strings("forwardHeaders", &S::forwardHeaders, {.check = headerName}),
      field::strings("upstreamHeaders", &S::upstreamHeaders,
                     {.check = [](const std::string& name, const std::string&) {
                       if (std::string why = checkHeaderName(name, false); !why.empty()) return why;
                       return isReservedHeader(name) ? quote(name) + " is managed by the proxy" : std::string();
                     }}),
      field::boolean("failOpen", &S::failOpen),
      field::known<S>("tls"),  // the backendTLS fields; read with the Secrets (rule_policies.cc)
  };
  return schema;
}

const Schema<proxy::RetrySpec>& retriesSchema() {
  using S = proxy::RetrySpec;
  static const Schema<S> schema{
      field::count("attempts", &S::attempts, {.max = 10, .whenAbsent = 1}),
      // A missing `on` means connect-failure and reset.
      field::custom<S>("on", readRetryOn, viewRetryOn,
                       [](S& s, const std::string&, Reporter&) {
                         s.onConnectFailure = true;
                         s.onReset = true;
                       }),
      field::duration("perTryTimeout", &S::perTryTimeout, {.min = 1ms}),
      field::boolean("nonIdempotent", &S::nonIdempotent),
      field::group<S>(
          "backoff",
          {
              field::duration("base", &S::backoffBase, {.min = 1ms, .view = "backoffBaseMs"}),
              field::duration("max", &S::backoffMax, {.min = 1ms, .view = "backoffMaxMs"}),
              field::check<S>([](const S& s, const std::string& field, Reporter& reporter) {
                if (s.backoffMax < s.backoffBase) {
                  reporter.invalid(field, "InvalidField",
                                   "max (" + ms(s.backoffMax) + ") must not be less than base (" +
                                       ms(s.backoffBase) + ")");
                }
              }),
          }),
      field::count("budgetPercent", &S::budgetPercent, {.max = 100}),
      field::count("minRetriesInFlight", &S::minRetriesInFlight, {.max = 10000}),
  };
  return schema;
}

const Schema<proxy::HealthCheckSpec>& healthCheckSchema() {
  using S = proxy::HealthCheckSpec;
  static const Schema<S> schema{
      field::string("path", &S::path,
                    {.check = [](const std::string& p, const std::string&) { return checkRequestPath(p); },
                     .reason = "InvalidPath"}),
      field::string("host", &S::host, {.normalize = toLower, .check = checkHostHeader}),
      field::duration("interval", &S::interval, {.min = 100ms}),
      field::duration("timeout", &S::timeout, {.min = 1ms}),
      field::check<S>([](const S& s, const std::string& field, Reporter& reporter) {
        if (s.timeout > s.interval) {
          reporter.invalid(childField(field, "timeout"), "InvalidField",
                           ms(s.timeout) + " must not be longer than the interval (" + ms(s.interval) + ")");
        }
      }),
      field::count("healthyThreshold", &S::healthyThreshold, {.min = 1, .max = 100}),
      field::count("unhealthyThreshold", &S::unhealthyThreshold, {.min = 1, .max = 100}),
  };
  return schema;
}

const Schema<proxy::OutlierDetectionSpec>& outlierDetectionSchema() {
  using S = proxy::OutlierDetectionSpec;
  static const Schema<S> schema{
      field::count("consecutive5xx", &S::consecutive5xx, {.max = 1000}),
      field::count("consecutiveGatewayFailures", &S::consecutiveGatewayFailures, {.max = 1000}),
      field::duration("baseEjectionTime", &S::baseEjectionTime, {.min = 1ms}),
      field::duration("maxEjectionTime", &S::maxEjectionTime, {.min = 1ms}),
      field::check<S>([](const S& s, const std::string& field, Reporter& reporter) {
        if (s.maxEjectionTime < s.baseEjectionTime) {
          reporter.invalid(childField(field, "maxEjectionTime"), "InvalidField",
                           ms(s.maxEjectionTime) + " must not be less than baseEjectionTime (" +
                               ms(s.baseEjectionTime) + ")");
        }
      }),
      field::count("maxEjectionPercent", &S::maxEjectionPercent, {.max = 100}),
  };
  return schema;
}

const Schema<proxy::CircuitBreakerSpec>& circuitBreakerSchema() {
  using S = proxy::CircuitBreakerSpec;
  static const Schema<S> schema{
      field::count("maxConnections", &S::maxConnections, {.max = kMaxCount}),
      field::count("maxPendingRequests", &S::maxPendingRequests, {.max = kMaxCount}),
      field::count("maxRequests", &S::maxRequests, {.max = kMaxCount}),
  };
  return schema;
}

}  // namespace portico::controller
