#include "controller/render/rule_policies.h"

#include <algorithm>
#include <chrono>
#include <limits>

#include "controller/render/backend_tls.h"
#include "controller/render/backends.h"
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

template <class T, class Out>
bool RulePolicyReader::readSecurityPolicy(const json& rule, std::string_view key, const std::string& field,
                                          const Schema<T>& schema, Out& out) {
  if (!rule.contains(key)) return true;
  if (!policyObject(rule, key, field, reporter_, /*nullIsError=*/true)) return false;
  return readNested(rule, key, field, schema, out, reporter_);
}

template <class T, class Finish>
bool RulePolicyReader::readAuthMethod(const json& auth, std::string_view key, const std::string& field,
                                      const Schema<T>& schema, std::optional<T>& out, Finish finish) {
  if (!auth.contains(key)) return true;
  std::string f = childField(field, key);
  return clean([&] {
    const json* object = policyObject(auth, key, field, reporter_, /*nullIsError=*/true);
    if (!object) return false;
    T spec;
    schema.read(*object, f, spec, reporter_);
    if (!finish(*object, f, spec)) return false;
    out = std::move(spec);
    return true;
  });
}

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
  return readSecurityPolicy(rule, "ipRules", field, ipRulesSchema(), route.ipRules);
}

bool RulePolicyReader::readCors(const json& rule, const std::string& field, proxy::RouteSpec& route) {
  return readNested(rule, "cors", field, corsSchema(), route.cors, reporter_);
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
  return readAuthMethod(auth, "apiKey", field, apiKeyAuthSchema(), spec.apiKey,
                        [&](const json& a, const std::string& f, proxy::ApiKeyAuthSpec& out) {
                          const bool header = member(a, "header"), query = member(a, "query");
                          if (header && query) {
                            reporter_.invalid(f, "InvalidField", "header and query exclude each other");
                          } else if (!header && !query) {
                            out.header = "X-API-Key";
                          }
                          return readSecretInto(a, f, apiKeysFromSecret, out, &proxy::ApiKeyAuthSpec::keys);
                        });
}

bool RulePolicyReader::readBasic(const json& auth, const std::string& field, proxy::AuthSpec& spec) {
  return readAuthMethod(auth, "basic", field, basicAuthSchema(), spec.basic,
                        [&](const json& b, const std::string& f, proxy::BasicAuthSpec& out) {
                          return readSecretInto(b, f, htpasswdFromSecret, out, &proxy::BasicAuthSpec::htpasswd);
                        });
}

bool RulePolicyReader::readJwt(const json& auth, const std::string& field, proxy::AuthSpec& spec) {
  return readAuthMethod(auth, "jwt", field, jwtAuthSchema(), spec.jwt,
                        [&](const json& j, const std::string& f, proxy::JwtAuthSpec& out) {
                          auto uri = readString(j, "jwksURI", f, reporter_);
                          bool hasSecret = member(j, "secretName") != nullptr;
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
                            return readServiceTls(j, "jwksTLS", f, out.jwksUri, out.jwksTls);
                          }
                          return readSecretInto(j, f, jwksFromSecret, out, &proxy::JwtAuthSpec::jwks);
                        });
}

bool RulePolicyReader::readExternal(const json& auth, const std::string& field, proxy::AuthSpec& spec) {
  return readAuthMethod(auth, "external", field, externalAuthSchema(), spec.external,
                        [&](const json& e, const std::string& f, proxy::ExternalAuthSpec& out) {
                          return readServiceTls(e, "tls", f, out.url, out.tls);
                        });
}

bool RulePolicyReader::readServiceTls(const json& object, std::string_view key, const std::string& field,
                                      const std::string& url, std::optional<proxy::UpstreamTlsSpec>& out) {
  std::optional<BackendTlsFields> fields;
  if (!readNested(object, key, field, backendTlsSchema(), fields, reporter_)) return false;
  if (!fields) return true;
  const std::string tf = childField(field, key);
  // The url's scheme and authority as a backend url: its host is the default name.
  auto service = urlBackend(url.substr(0, url.find('/', url.find("//") + 2)));
  if (!service || !service->tls) {
    reporter_.invalid(tf, "InvalidField", "needs an https:// url");
    return false;
  }
  out = resolveBackendTls(*fields, service->tls->serverName, index_, ns_, childField(tf, "caSecretName"),
                          childField(tf, "clientCertificateSecretName"), reporter_);
  return out.has_value();
}

bool RulePolicyReader::readRateLimit(const json& rule, const std::string& field, proxy::RouteSpec& route) {
  if (!rule.contains("rateLimit")) return true;
  size_t before = reporter_.count();
  if (!readSecurityPolicy(rule, "rateLimit", field, rateLimitSchema(), route.rateLimit)) {
    if (!route.rateLimit) return false;
  }
  const proxy::RateLimitSpec& spec = *route.rateLimit;
  std::string kf = childField(childField(field, "rateLimit"), "key");
  // From the spec, not from route.auth: an auth whose Secret is missing is reported there and
  // must not make this key look wrong too.
  const json* auth = member(rule, "auth");
  const bool hasJwt = auth && auth->is_object() && member(*auth, "jwt");
  // External auth admits or refuses but names no consumer.
  const bool identifies = auth && auth->is_object() && (member(*auth, "apiKey") || member(*auth, "basic") || hasJwt);
  if (spec.key == proxy::RateLimitKey::Consumer && !identifies) {
    reporter_.invalid(kf, "InvalidField",
                      "Consumer needs an auth method that identifies the consumer (apiKey, basic or jwt)");
  } else if (spec.key == proxy::RateLimitKey::Claim && !hasJwt) {
    reporter_.invalid(kf, "InvalidField", "Claim:NAME needs auth.jwt");
  }
  return reporter_.count() == before;
}

bool RulePolicyReader::readRedirect(const json& rule, const std::string& field, proxy::RouteSpec& route) {
  return readNested(rule, "redirect", field, redirectSchema(), route.redirect, reporter_);
}

}  // namespace portico::controller