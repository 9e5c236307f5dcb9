#include "controller/render/spec_json.h"

#include "controller/render/api_names.h"
#include "controller/render/policies.h"
#include "controller/render/rule_schemas.h"
#include "proxy/config/upstream_tls_view.h"

namespace portico::controller {
namespace {

using nlohmann::ordered_json;

// The API name of an enum value, from its one table (api_names.h).
template <class E, size_t N>
std::string name(const EnumName<E> (&names)[N], E value) {
  return std::string(enumName(names, value));
}

template <class T, class F>
ordered_json optional(const std::optional<T>& v, F&& f) {
  return v ? f(*v) : ordered_json();
}

ordered_json pairs(const std::vector<std::pair<std::string, std::string>>& v) {
  ordered_json out = ordered_json::array();
  for (const auto& [a, b] : v) out.push_back({a, b});
  return out;
}

// Secret material (API keys, htpasswd hashes, inline JWKS) never appears here: only what
// identifies it (consumer and user names, key ids) and a fingerprint that changes when it
// does.
ordered_json auth(const proxy::AuthSpec& a) {
  ordered_json j = ordered_json::object();
  if (a.apiKey) {
    ordered_json consumers = ordered_json::array();
    std::string material;
    for (const auto& [consumer, key] : a.apiKey->keys) {
      consumers.push_back(consumer);
      material += consumer + '\0' + key + '\0';
    }
    j["apiKey"] = {{"header", a.apiKey->header},
                   {"query", a.apiKey->query},
                   {"consumers", consumers},
                   {"keysFingerprint", fingerprint(material)},
                   {"consumerHeader", a.apiKey->consumerHeader}};
  }
  if (a.basic) {
    ordered_json users = ordered_json::array();
    size_t start = 0;
    const std::string& text = a.basic->htpasswd;
    while (start < text.size()) {
      size_t nl = text.find('\n', start);
      std::string line = text.substr(start, nl == std::string::npos ? std::string::npos : nl - start);
      users.push_back(line.substr(0, line.find(':')));
      start = nl == std::string::npos ? text.size() : nl + 1;
    }
    j["basic"] = {{"realm", a.basic->realm},
                  {"users", users},
                  {"htpasswdFingerprint", fingerprint(text)},
                  {"userHeader", a.basic->userHeader}};
  }
  if (a.jwt) {
    ordered_json jwt;
    jwt["issuer"] = a.jwt->issuer;
    jwt["audiences"] = a.jwt->audiences;
    jwt["jwksUri"] = a.jwt->jwksUri;
    if (!a.jwt->jwks.empty()) {
      ordered_json kids = ordered_json::array();
      auto set = nlohmann::json::parse(a.jwt->jwks, nullptr, false);
      if (set.is_object() && set.contains("keys") && set["keys"].is_array()) {
        for (const auto& k : set["keys"]) {
          kids.push_back(k.is_object() ? k.value("kid", std::string()) : std::string());
        }
      }
      jwt["jwksKeyIds"] = kids;
      jwt["jwksFingerprint"] = fingerprint(a.jwt->jwks);
    }
    jwt["forwardClaims"] = pairs(a.jwt->forwardClaims);
    jwt["leewayMs"] = a.jwt->leeway.count();
    jwt["jwksRefreshIntervalMs"] = a.jwt->jwksRefreshInterval.count();
    j["jwt"] = std::move(jwt);
  }
  if (a.external) j["external"] = externalAuthSchema().view(*a.external);
  return j;
}

ordered_json edits(const proxy::HeaderEdits& e) { return headerEditsSchema().view(e); }

ordered_json route(const proxy::RouteSpec& r) {
  ordered_json j;
  j["name"] = r.name;
  j["hosts"] = r.hosts;
  j["pathType"] = name(kPathMatchTypeNames, r.pathType);
  j["path"] = r.path;
  j["methods"] = r.methods;
  j["headers"] = ordered_json::array();
  for (const auto& h : r.headers) j["headers"].push_back(headerMatchSchema().view(h));
  j["query"] = ordered_json::array();
  for (const auto& q : r.query) j["query"].push_back(queryMatchSchema().view(q));
  j["backends"] = ordered_json::array();
  for (const auto& b : r.backends) {
    ordered_json backend;
    backend["key"] = b.key;
    backend["weight"] = b.weight;
    backend["tls"] = proxy::upstreamTlsView(b.tls);
    backend["endpoints"] = ordered_json::array();
    for (const auto& e : b.endpoints) {
      backend["endpoints"].push_back({{"host", e.host}, {"port", e.port}, {"weight", e.weight}});
    }
    j["backends"].push_back(std::move(backend));
  }
  // Only where it is set (Gateway API routes), so other routes' views stay as they were.
  if (r.unresolvedBackendWeight) j["unresolvedBackendWeight"] = r.unresolvedBackendWeight;
  if (r.wildcardAnyDepth) j["wildcardAnyDepth"] = true;
  if (!r.localAddresses.empty()) j["localAddresses"] = r.localAddresses;
  j["loadBalancing"] = name(kLoadBalancingPolicyNames, r.loadBalancing);
  j["timeouts"] = timeoutsSchema().view(r.timeouts);
  j["hashOn"] = {{"source", name(kHashSourceNames, r.hashOn.source)}, {"name", r.hashOn.name}};
  j["sessionAffinity"] = optional(r.sessionAffinity, [](const proxy::SessionAffinitySpec& s) {
    return ordered_json{{"cookieName", s.cookieName}, {"ttlMs", s.ttl.count()}};
  });
  j["retries"] = optional(r.retries, [](const proxy::RetrySpec& s) { return retriesSchema().view(s); });
  j["healthCheck"] = optional(r.healthCheck, [](const proxy::HealthCheckSpec& s) { return healthCheckSchema().view(s); });
  j["outlierDetection"] = optional(r.outlierDetection, [](const proxy::OutlierDetectionSpec& s) {
    return outlierDetectionSchema().view(s);
  });
  j["circuitBreaker"] = circuitBreakerSchema().view(r.circuitBreaker);
  j["panicThresholdPercent"] = r.panicThresholdPercent;
  j["ipRules"] = ipRulesSchema().view(r.ipRules);
  j["cors"] = optional(r.cors, [](const proxy::CorsSpec& s) { return corsSchema().view(s); });
  j["auth"] = auth(r.auth);
  j["rateLimit"] = optional(r.rateLimit, [](const proxy::RateLimitSpec& s) { return rateLimitSchema().view(s); });
  j["redirect"] = optional(r.redirect, [](const proxy::RedirectSpec& s) { return redirectSchema().view(s); });
  j["rewritePathPrefix"] = r.rewritePathPrefix ? ordered_json(*r.rewritePathPrefix) : ordered_json();
  j["rewritePathRegex"] = optional(r.rewritePathRegex, [](const proxy::RegexRewriteSpec& s) {
    return ordered_json{{"pattern", s.pattern}, {"substitution", s.substitution}};
  });
  j["rewriteHost"] = r.rewriteHost ? ordered_json(*r.rewriteHost) : ordered_json();
  j["requestHeaders"] = edits(r.requestHeaders);
  j["responseHeaders"] = edits(r.responseHeaders);
  j["maxRequestBodyBytes"] = r.maxRequestBodyBytes;
  return j;
}

}  // namespace

namespace {

template <class Table, class Deref>
ordered_json tableJson(const Table& table, bool includePrivateKeys, Deref deref) {
  ordered_json j;
  j["routes"] = ordered_json::array();
  for (const auto& r : table.routes) j["routes"].push_back(route(deref(r)));
  j["certificates"] = ordered_json::array();
  for (const auto& c : table.certificates) {
    ordered_json cert;
    cert["name"] = c.name;
    cert["hosts"] = c.hosts;
    cert["certificatePem"] = c.certificatePem;
    cert["privateKeyPem"] = includePrivateKeys ? c.privateKeyPem : std::string("<redacted>");
    cert["isDefault"] = c.isDefault;
    // Only where set, so that other certificates' views stay as they were.
    if (const auto& auth = c.clientAuth) {
      cert["clientAuth"] = {{"mode", name(kClientAuthModeNames, auth->mode)},
                            {"caSource", auth->caSource},
                            {"caPem", auth->caPem},
                            {"crlPem", auth->crlPem}};
    }
    if (!c.hsts.empty()) cert["hsts"] = c.hsts;
    if (c.tls13Only) cert["minVersion"] = "1.3";
    j["certificates"].push_back(std::move(cert));
  }
  j["httpsRedirectHosts"] = table.httpsRedirectHosts;
  return j;
}

}  // namespace

ordered_json toJson(const proxy::RouteTableSpec& table, bool includePrivateKeys) {
  return tableJson(table, includePrivateKeys, [](const proxy::RouteSpec& r) -> const proxy::RouteSpec& { return r; });
}

ordered_json toJson(const proxy::SharedRouteTableSpec& table, bool includePrivateKeys) {
  return tableJson(table, includePrivateKeys,
                   [](const proxy::RouteSpecConstSharedPtr& r) -> const proxy::RouteSpec& { return *r; });
}

ordered_json toJson(const std::vector<Diagnostic>& diagnostics) {
  ordered_json j = ordered_json::array();
  for (const auto& d : diagnostics) {
    j.push_back({{"object", d.object.toString()},
                 {"field", d.field},
                 {"condition", d.condition},
                 {"reason", d.reason},
                 {"message", d.message}});
  }
  return j;
}

}  // namespace portico::controller
