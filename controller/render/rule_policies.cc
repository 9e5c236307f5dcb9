#include "controller/render/rule_policies.h"

#include <algorithm>
#include <chrono>
#include <limits>

#include "controller/render/duration.h"
#include "controller/render/field_path.h"
#include "controller/render/policies.h"
#include "controller/render/rule_schemas.h"
#include "controller/render/secrets.h"
#include "controller/render/validation.h"

namespace portico::controller {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

std::string quote(std::string_view s) { return "\"" + std::string(s) + "\""; }

// `rule[key]` is present: either absent-as-null (rejected for security policies) or a
// value. Returns the object, reporting a wrong type; `nullIsError` treats `key: null` as
// an error instead of as absent.
const json* policyObject(const json& rule, std::string_view key, const std::string& field,
                         Reporter& reporter, bool nullIsError) {
  auto it = rule.find(key);
  if (it == rule.end()) return nullptr;
  if (it->is_null()) {
    if (nullIsError) {
      reporter.invalid(childField(field, key), "InvalidField",
                       "must be an object, not null; remove the field to turn the policy off");
    }
    return nullptr;
  }
  return readObject(rule, key, field, reporter);
}

}  // namespace

bool RulePolicyReader::read(const json& rule, const std::string& field, proxy::RouteSpec& route) {
  bool ok = readLoadBalancing(rule, field, route);
  ok = readRetries(rule, field, route) && ok;
  ok = readHealthCheck(rule, field, route) && ok;
  ok = readOutlierDetection(rule, field, route) && ok;
  ok = readCircuitBreaker(rule, field, route) && ok;
  ok = readIpRules(rule, field, route) && ok;
  ok = readCors(rule, field, route) && ok;
  ok = readAuth(rule, field, route) && ok;
  ok = readRateLimit(rule, field, route) && ok;  // after auth: the key may need it
  ok = readRedirect(rule, field, route) && ok;
  return ok;
}

std::optional<proxy::Millis> RulePolicyReader::readMillis(const json& object, std::string_view key,
                                                          const std::string& parent,
                                                          proxy::Millis minimum) {
  return field::detail::readDuration(object, key, parent, minimum, std::nullopt, {}, reporter_);
}

std::vector<std::string> RulePolicyReader::readStrings(const json& object, std::string_view key,
                                                       const std::string& parent) {
  std::vector<std::string> out;
  const json* list = readArray(object, key, parent, reporter_);
  if (!list) return out;
  std::string lf = childField(parent, key);
  for (size_t i = 0; i < list->size(); ++i) {
    const json& v = (*list)[i];
    if (!v.is_string()) {
      reporter_.invalid(indexField(lf, i), "InvalidField", "must be a string, not " + jsonTypeName(v));
      continue;
    }
    out.push_back(v.get<std::string>());
  }
  return out;
}

std::vector<std::string> RulePolicyReader::readHeaderNames(const json& object, std::string_view key,
                                                           const std::string& parent, bool allowStar) {
  std::vector<std::string> out;
  const json* list = readArray(object, key, parent, reporter_);
  if (!list) return out;
  std::string lf = childField(parent, key);
  for (size_t i = 0; i < list->size(); ++i) {
    const json& v = (*list)[i];
    std::string f = indexField(lf, i);
    if (!v.is_string()) {
      reporter_.invalid(f, "InvalidField", "must be a string, not " + jsonTypeName(v));
      continue;
    }
    const std::string& name = v.get_ref<const std::string&>();
    if (!(allowStar && name == "*") && !isHttpToken(name)) {
      reporter_.invalid(f, "InvalidField", quote(name) + " is not a valid header name");
      continue;
    }
    if (std::find(out.begin(), out.end(), name) == out.end()) out.push_back(name);
  }
  return out;
}

std::optional<std::string> RulePolicyReader::readSecretName(const json& object, const std::string& parent) {
  auto name = readString(object, "secretName", parent, reporter_, /*required=*/true);
  if (name && !isDnsSubdomain(*name)) {
    reporter_.invalid(childField(parent, "secretName"), "InvalidField",
                      quote(*name) + " is not a valid Secret name");
    return std::nullopt;
  }
  return name;
}

// ---- balancing and resilience ------------------------------------------------------

bool RulePolicyReader::readLoadBalancing(const json& rule, const std::string& field,
                                         proxy::RouteSpec& route) {
  return readNested(rule, "loadBalancing", field, loadBalancingSchema(), route, reporter_);
}

bool RulePolicyReader::readRetries(const json& rule, const std::string& field, proxy::RouteSpec& route) {
  return readNested(rule, "retries", field, retriesSchema(), route.retries, reporter_);
}

bool RulePolicyReader::readHealthCheck(const json& rule, const std::string& field,
                                       proxy::RouteSpec& route) {
  return readNested(rule, "healthCheck", field, healthCheckSchema(), route.healthCheck, reporter_);
}

bool RulePolicyReader::readOutlierDetection(const json& rule, const std::string& field,
                                            proxy::RouteSpec& route) {
  return readNested(rule, "outlierDetection", field, outlierDetectionSchema(), route.outlierDetection,
                       reporter_);
}

bool RulePolicyReader::readCircuitBreaker(const json& rule, const std::string& field,
                                          proxy::RouteSpec& route) {
  return readNested(rule, "circuitBreaker", field, circuitBreakerSchema(), route.circuitBreaker, reporter_);
}

// ---- gateway policies --------------------------------------------------------------

bool RulePolicyReader::readIpRules(const json& rule, const std::string& field, proxy::RouteSpec& route) {
  if (!rule.contains("ipRules")) return true;
  std::string iField = childField(field, "ipRules");
  return clean([&] {
    const json* ip = policyObject(rule, "ipRules", field, reporter_, /*nullIsError=*/true);
    if (!ip) return false;
    size_t before = reporter_.count();
    checkKnownFields(*ip, iField, {"allow", "deny"}, reporter_);
    for (auto [key, out] : {std::pair{"allow", &route.ipRules.allow}, std::pair{"deny", &route.ipRules.deny}}) {
      const json* list = readArray(*ip, key, iField, reporter_);
      if (!list) continue;
      std::string lf = childField(iField, key);
      for (size_t i = 0; i < list->size(); ++i) {
        const json& v = (*list)[i];
        std::string f = indexField(lf, i);
        if (!v.is_string()) {
          reporter_.invalid(f, "InvalidField", "must be a string, not " + jsonTypeName(v));
        } else if (std::string why = checkIpOrCidr(v.get_ref<const std::string&>()); !why.empty()) {
          reporter_.invalid(f, "InvalidCIDR", why);
        } else {
          std::string cidr = normalizeIpOrCidr(v.get_ref<const std::string&>());
          if (std::find(out->begin(), out->end(), cidr) == out->end()) out->push_back(std::move(cidr));
        }
      }
    }
    if (route.ipRules.empty() && reporter_.count() == before) {
      reporter_.invalid(iField, "InvalidField", "needs allow or deny entries");
    }
    return true;
  });
}

bool RulePolicyReader::readCors(const json& rule, const std::string& field, proxy::RouteSpec& route) {
  if (!member(rule, "cors")) return true;
  std::string cField = childField(field, "cors");
  return clean([&] {
    const json* c = readObject(rule, "cors", field, reporter_);
    if (!c) return false;
    checkKnownFields(*c, cField,
                     {"allowOrigins", "allowMethods", "allowHeaders", "exposeHeaders", "allowCredentials",
                      "maxAge"},
                     reporter_);
    proxy::CorsSpec spec;
    size_t before = reporter_.count();
    std::vector<std::string> origins = readStrings(*c, "allowOrigins", cField);
    for (size_t i = 0; i < origins.size(); ++i) {
      if (std::string why = checkCorsOrigin(origins[i]); !why.empty()) {
        reporter_.invalid(indexField(childField(cField, "allowOrigins"), i), "InvalidField", why);
      } else if (std::find(spec.allowOrigins.begin(), spec.allowOrigins.end(), origins[i]) ==
                 spec.allowOrigins.end()) {
        spec.allowOrigins.push_back(origins[i]);
      }
    }
    std::vector<std::string> methods = readHeaderNames(*c, "allowMethods", cField, /*allowStar=*/true);
    for (auto& m : methods) {
      std::string upper = m == "*" ? m : toUpper(m);
      if (std::find(spec.allowMethods.begin(), spec.allowMethods.end(), upper) == spec.allowMethods.end()) {
        spec.allowMethods.push_back(std::move(upper));
      }
    }
    spec.allowHeaders = readHeaderNames(*c, "allowHeaders", cField, /*allowStar=*/true);
    spec.exposeHeaders = readHeaderNames(*c, "exposeHeaders", cField, /*allowStar=*/true);
    spec.allowCredentials = readBool(*c, "allowCredentials", cField, reporter_).value_or(false);
    if (spec.allowCredentials &&
        std::find(spec.allowOrigins.begin(), spec.allowOrigins.end(), "*") != spec.allowOrigins.end()) {
      reporter_.invalid(childField(cField, "allowCredentials"), "InvalidField",
                        "cannot be used with the wildcard origin \"*\" (browsers refuse it); list the origins");
    }
    if (const json* maxAge = member(*c, "maxAge")) {
      std::string f = childField(cField, "maxAge");
      // Seconds as an integer, or a duration such as "10m".
      if (maxAge->is_string()) {
        if (auto ms = readMillis(*c, "maxAge", cField, 0ms)) {
          auto s = std::chrono::duration_cast<std::chrono::seconds>(*ms);
          if (s.count() > 86400) {
            reporter_.invalid(f, "InvalidField", "must be at most 24h (86400 seconds)");
          } else {
            spec.maxAge = s;
          }
        }
      } else if (auto n = readUnsigned(*c, "maxAge", cField, reporter_, 86400)) {
        spec.maxAge = std::chrono::seconds(*n);
      }
    }
    if (spec.allowOrigins.empty() && reporter_.count() == before) {
      reporter_.invalid(childField(cField, "allowOrigins"), "InvalidField",
                        "needs at least one origin (or \"*\")");
    }
    route.cors = std::move(spec);
    return true;
  });
}

bool RulePolicyReader::readAuth(const json& rule, const std::string& field, proxy::RouteSpec& route) {
  if (!rule.contains("auth")) return true;
  std::string aField = childField(field, "auth");
  return clean([&] {
    const json* auth = policyObject(rule, "auth", field, reporter_, /*nullIsError=*/true);
    if (!auth) return false;
    checkKnownFields(*auth, aField, {"apiKey", "basic", "jwt", "external"}, reporter_);
    int methods = 0;
    for (const char* m : {"apiKey", "basic", "jwt", "external"}) methods += auth->contains(m) ? 1 : 0;
    if (methods != 1) {
      reporter_.invalid(aField, "InvalidField",
                        methods == 0 ? "needs one of apiKey, basic, jwt or external"
                                     : "at most one of apiKey, basic, jwt or external may be set");
      return false;
    }
    proxy::AuthSpec spec;
    bool ok = readApiKey(*auth, aField, spec) && readBasic(*auth, aField, spec) &&
              readJwt(*auth, aField, spec) && readExternal(*auth, aField, spec);
    if (ok) route.auth = std::move(spec);
    return ok;
  });
}

bool RulePolicyReader::readApiKey(const json& auth, const std::string& field, proxy::AuthSpec& spec) {
  if (!auth.contains("apiKey")) return true;
  std::string f = childField(field, "apiKey");
  return clean([&] {
    const json* a = policyObject(auth, "apiKey", field, reporter_, /*nullIsError=*/true);
    if (!a) return false;
    checkKnownFields(*a, f, {"header", "query", "secretName"}, reporter_);
    proxy::ApiKeyAuthSpec out;
    auto header = readString(*a, "header", f, reporter_);
    auto query = readString(*a, "query", f, reporter_);
    if (header && query) {
      reporter_.invalid(f, "InvalidField", "header and query exclude each other");
    } else if (header) {
      if (!isHttpToken(*header) || isReservedHeader(*header)) {
        reporter_.invalid(childField(f, "header"), "InvalidField", quote(*header) + " is not a usable header name");
      }
      out.header = *header;
    } else if (query) {
      if (query->empty()) reporter_.invalid(childField(f, "query"), "InvalidField", "must not be empty");
      out.query = *query;
    } else {
      out.header = "X-API-Key";
    }
    auto keys = readSecret(*a, f, apiKeysFromSecret);
    if (!keys) return false;
    out.keys = std::move(*keys);
    spec.apiKey = std::move(out);
    return true;
  });
}

bool RulePolicyReader::readBasic(const json& auth, const std::string& field, proxy::AuthSpec& spec) {
  if (!auth.contains("basic")) return true;
  std::string f = childField(field, "basic");
  return clean([&] {
    const json* b = policyObject(auth, "basic", field, reporter_, /*nullIsError=*/true);
    if (!b) return false;
    checkKnownFields(*b, f, {"secretName", "realm"}, reporter_);
    proxy::BasicAuthSpec out;
    if (auto realm = readString(*b, "realm", f, reporter_)) {
      if (!isHttpFieldValue(*realm) || realm->find_first_of("\"\\") != std::string::npos) {
        reporter_.invalid(childField(f, "realm"), "InvalidField",
                          "must not contain quotes, backslashes or control characters");
      }
      out.realm = *realm;
    }
    auto htpasswd = readSecret(*b, f, htpasswdFromSecret);
    if (!htpasswd) return false;
    out.htpasswd = std::move(*htpasswd);
    spec.basic = std::move(out);
    return true;
  });
}

bool RulePolicyReader::readJwt(const json& auth, const std::string& field, proxy::AuthSpec& spec) {
  if (!auth.contains("jwt")) return true;
  std::string f = childField(field, "jwt");
  return clean([&] {
    const json* j = policyObject(auth, "jwt", field, reporter_, /*nullIsError=*/true);
    if (!j) return false;
    checkKnownFields(*j, f, {"issuer", "audiences", "jwksURI", "secretName", "forwardClaims", "leeway"},
                     reporter_);
    proxy::JwtAuthSpec out;
    if (auto issuer = readString(*j, "issuer", f, reporter_)) {
      if (issuer->empty()) reporter_.invalid(childField(f, "issuer"), "InvalidField", "must not be empty");
      out.issuer = *issuer;
    }
    for (auto& aud : readStrings(*j, "audiences", f)) {
      if (std::find(out.audiences.begin(), out.audiences.end(), aud) == out.audiences.end()) {
        out.audiences.push_back(std::move(aud));
      }
    }
    if (const json* claims = readObject(*j, "forwardClaims", f, reporter_)) {
      std::string cf = childField(f, "forwardClaims");
      for (auto it = claims->begin(); it != claims->end(); ++it) {  // sorted by claim
        std::string kf = childField(cf, it.key());
        if (it.key().empty()) {
          reporter_.invalid(kf, "InvalidField", "the claim name must not be empty");
        } else if (!it->is_string()) {
          reporter_.invalid(kf, "InvalidField", "must be a header name, not " + jsonTypeName(*it));
        } else if (!isHttpToken(it->get_ref<const std::string&>()) ||
                   isReservedHeader(it->get_ref<const std::string&>())) {
          reporter_.invalid(kf, "InvalidField", quote(it->get<std::string>()) + " is not a usable header name");
        } else {
          out.forwardClaims.emplace_back(it.key(), it->get<std::string>());
        }
      }
    }
    if (auto leeway = readMillis(*j, "leeway", f, 0ms)) {
      if (*leeway > proxy::Millis(std::chrono::minutes(10))) {
        reporter_.invalid(childField(f, "leeway"), "InvalidField", "must be at most 10m");
      } else {
        out.leeway = *leeway;
      }
    }
    auto uri = readString(*j, "jwksURI", f, reporter_);
    bool hasSecret = member(*j, "secretName") != nullptr;
    if (uri.has_value() == hasSecret) {
      reporter_.invalid(f, "InvalidField", "needs exactly one of jwksURI and secretName");
      return false;
    }
    if (uri) {
      if (std::string why = checkHttpUrl(*uri); !why.empty()) {
        reporter_.invalid(childField(f, "jwksURI"), "InvalidField", why);
        return false;
      }
      out.jwksUri = *uri;
    } else {
      auto jwks = readSecret(*j, f, jwksFromSecret);
      if (!jwks) return false;
      out.jwks = std::move(*jwks);
    }
    spec.jwt = std::move(out);
    return true;
  });
}

bool RulePolicyReader::readExternal(const json& auth, const std::string& field, proxy::AuthSpec& spec) {
  if (!auth.contains("external")) return true;
  std::string f = childField(field, "external");
  return clean([&] {
    const json* e = policyObject(auth, "external", field, reporter_, /*nullIsError=*/true);
    if (!e) return false;
    checkKnownFields(*e, f, {"url", "timeout", "forwardHeaders", "upstreamHeaders", "failOpen"}, reporter_);
    proxy::ExternalAuthSpec out;
    if (auto url = readString(*e, "url", f, reporter_, /*required=*/true)) {
      if (std::string why = checkHttpUrl(*url); !why.empty()) {
        reporter_.invalid(childField(f, "url"), "InvalidField", why);
      }
      out.url = *url;
    }
    if (auto t = readMillis(*e, "timeout", f, 1ms)) out.timeout = *t;
    out.forwardHeaders = readHeaderNames(*e, "forwardHeaders", f, /*allowStar=*/false);
    out.upstreamHeaders = readHeaderNames(*e, "upstreamHeaders", f, /*allowStar=*/false);
    for (size_t i = 0; i < out.upstreamHeaders.size(); ++i) {
      if (isReservedHeader(out.upstreamHeaders[i])) {
        reporter_.invalid(indexField(childField(f, "upstreamHeaders"), i), "InvalidField",
                          quote(out.upstreamHeaders[i]) + " is managed by the proxy");
      }
    }
    out.failOpen = readBool(*e, "failOpen", f, reporter_).value_or(false);
    spec.external = std::move(out);
    return true;
  });
}

bool RulePolicyReader::readRateLimit(const json& rule, const std::string& field, proxy::RouteSpec& route) {
  if (!rule.contains("rateLimit")) return true;
  std::string rField = childField(field, "rateLimit");
  return clean([&] {
    const json* r = policyObject(rule, "rateLimit", field, reporter_, /*nullIsError=*/true);
    if (!r) return false;
    checkKnownFields(*r, rField, {"requests", "period", "burst", "key", "mode", "failureMode"}, reporter_);
    proxy::RateLimitSpec spec;
    auto requests = readUnsigned(*r, "requests", rField, reporter_, 1000000000);
    if (!member(*r, "requests")) {
      reporter_.invalid(childField(rField, "requests"), "InvalidField", "required");
    } else if (requests && *requests == 0) {
      reporter_.invalid(childField(rField, "requests"), "InvalidField",
                        "must be at least 1 (remove rateLimit to turn it off)");
    } else if (requests) {
      spec.requests = *requests;
    }
    if (!member(*r, "period")) {
      reporter_.invalid(childField(rField, "period"), "InvalidField", "required");
    } else if (auto p = readMillis(*r, "period", rField, 1ms)) {
      spec.period = *p;
    }
    if (auto b = readUnsigned(*r, "burst", rField, reporter_, 1000000000)) spec.burst = *b;
    if (auto key = readString(*r, "key", rField, reporter_)) {
      std::string kf = childField(rField, "key");
      auto parsed = parseRateLimitKey(*key);
      if (!parsed) {
        reporter_.invalid(kf, "InvalidField", parsed.error().message);
      } else {
        spec.key = parsed->first;
        spec.keyName = parsed->second;
        // From the spec, not from route.auth: an auth whose Secret is missing is reported
        // there and must not make this key look wrong too.
        const json* auth = member(rule, "auth");
        const bool hasJwt = auth && auth->is_object() && member(*auth, "jwt");
        // External auth admits or refuses but names no consumer.
        const bool identifies = auth && auth->is_object() &&
                                (member(*auth, "apiKey") || member(*auth, "basic") || hasJwt);
        if (spec.key == proxy::RateLimitKey::Consumer && !identifies) {
          reporter_.invalid(kf, "InvalidField",
                            "Consumer needs an auth method that identifies the consumer (apiKey, basic or jwt)");
        } else if (spec.key == proxy::RateLimitKey::Claim && !hasJwt) {
          reporter_.invalid(kf, "InvalidField", "Claim:NAME needs auth.jwt");
        }
      }
    }
    if (auto mode = readString(*r, "mode", rField, reporter_)) {
      if (*mode == "Global") {
        spec.global = true;
      } else if (*mode != "Local") {
        reporter_.invalid(childField(rField, "mode"), "InvalidField", quote(*mode) + " must be Local or Global");
      }
    }
    if (auto failure = readString(*r, "failureMode", rField, reporter_)) {
      if (*failure != "Open" && *failure != "Closed") {
        reporter_.invalid(childField(rField, "failureMode"), "InvalidField",
                          quote(*failure) + " must be Open or Closed");
      } else if (spec.global) {
        spec.failOpen = *failure == "Open";
      } else {
        reporter_.invalid(childField(rField, "failureMode"), "InvalidField",
                          "only applies to mode Global (a local limit cannot fail)");
      }
    }
    route.rateLimit = std::move(spec);
    return true;
  });
}

bool RulePolicyReader::readRedirect(const json& rule, const std::string& field, proxy::RouteSpec& route) {
  return readNested(rule, "redirect", field, redirectSchema(), route.redirect, reporter_);
}

}  // namespace portico::controller
