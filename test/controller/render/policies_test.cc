// APIRoute rules: load balancing, resilience and gateway policies (auth with Secrets, rate
// limits, CORS, IP rules, redirects, regex rewrites). One test per field and diagnostic.
#include <doctest/doctest.h>

#include "controller/file_source/config_file.h"
#include "controller/render/render.h"
#include "controller/render/spec_json.h"
#include "test/controller/test_support.h"

using nlohmann::json;
using namespace portico::controller;
using namespace portico::controller::test;
using namespace std::chrono_literals;
namespace proxy = portico::proxy;

namespace {

const std::string kBcryptAlice = "$2y$05$" + std::string(53, 'a');
const std::string kShaBob = "$6$saltsalt$" + std::string(86, 'b');

std::string diagnosticsText(const RenderResult& r) {
  std::string out;
  for (const auto& d : r.diagnostics) out += d.reason + " " + d.message + "\n";
  return out;
}

RenderResult renderRule(json extra, std::vector<json> secrets = {}) {
  ObjectSnapshot extraObjects;
  extraObjects.secrets = std::move(secrets);
  return renderRoutes({apiRoute("shop", "orders", {{"rules", {rule("r", std::move(extra))}}})}, false,
                      std::move(extraObjects));
}

proxy::RouteSpec renderGood(json extra, std::vector<json> secrets = {}) {
  auto result = renderRule(std::move(extra), std::move(secrets));
  for (const auto& d : result.diagnostics) FAIL_CHECK(d.message);
  REQUIRE(result.table.routes.size() == 1);
  return result.table.routes[0];
}

// The rule is rejected with exactly one diagnostic at `field` with `reason`.
Diagnostic renderBad(json extra, const std::string& field, const std::string& reason,
                     std::vector<json> secrets = {}) {
  CAPTURE(field);
  auto result = renderRule(std::move(extra), std::move(secrets));
  CHECK(result.table.routes.empty());
  auto at = diagnosticsAt(result, field);
  REQUIRE_MESSAGE(at.size() == 1, diagnosticsText(result));
  CHECK(at[0].reason == reason);
  CHECK(at[0].object.toString() == "APIRoute shop/orders");
  CHECK(at[0].message.rfind(field + ": ", 0) == 0);
  return at[0];
}

json keysSecret() { return opaqueSecret("shop", "keys", {{"alice", "key-alice\n"}, {"bob", "key-bob"}}); }

}  // namespace

TEST_SUITE("render") {

// ---- loadBalancing ------------------------------------------------------------------

TEST_CASE("loadBalancing: hashOn sources, session affinity and panic threshold") {
  const std::pair<const char*, proxy::HashKeySpec> cases[] = {
      {"ClientIP", {proxy::HashSource::ClientIP, ""}},
      {"Path", {proxy::HashSource::Path, ""}},
      {"Header:X-User", {proxy::HashSource::Header, "X-User"}},
      {"Cookie:session", {proxy::HashSource::Cookie, "session"}},
      {"Query:user id", {proxy::HashSource::Query, "user id"}},
  };
  for (const auto& [text, want] : cases) {
    CAPTURE(text);
    auto r = renderGood({{"loadBalancing", {{"policy", "ConsistentHash"}, {"hashOn", text}}}});
    CHECK(r.loadBalancing == proxy::LoadBalancingPolicy::ConsistentHash);
    CHECK(r.hashOn.source == want.source);
    CHECK(r.hashOn.name == want.name);
  }
  auto r = renderGood({{"loadBalancing",
                        {{"policy", "LeastRequest"},
                         {"sessionAffinity", {{"cookieName", "sticky"}, {"ttl", "1h"}}},
                         {"panicThresholdPercent", 0}}}});
  CHECK(r.loadBalancing == proxy::LoadBalancingPolicy::LeastRequest);
  REQUIRE(r.sessionAffinity.has_value());
  CHECK(r.sessionAffinity->cookieName == "sticky");
  CHECK(r.sessionAffinity->ttl == 3600000ms);
  CHECK(r.panicThresholdPercent == 0);
  auto defaults = renderGood({{"loadBalancing", {{"policy", "Random"}, {"sessionAffinity", json::object()}}}});
  CHECK(defaults.sessionAffinity->cookieName == "portico-affinity");
  CHECK(defaults.sessionAffinity->ttl == 0ms);
  CHECK(defaults.panicThresholdPercent == 50);
  CHECK_FALSE(renderGood({}).sessionAffinity.has_value());
}

TEST_CASE("loadBalancing diagnostics") {
  renderBad({{"loadBalancing", {{"policy", "RoundRobin"}, {"hashOn", "ClientIP"}}}},
            "spec.rules[0].loadBalancing.hashOn", "InvalidField");
  renderBad({{"loadBalancing", {{"policy", "ConsistentHash"}, {"hashOn", "Header:"}}}},
            "spec.rules[0].loadBalancing.hashOn", "InvalidField");
  renderBad({{"loadBalancing", {{"policy", "ConsistentHash"}, {"hashOn", "Body"}}}},
            "spec.rules[0].loadBalancing.hashOn", "InvalidField");
  renderBad({{"loadBalancing", {{"policy", "ConsistentHash"}, {"hashOn", "Cookie:a b"}}}},
            "spec.rules[0].loadBalancing.hashOn", "InvalidField");
  renderBad({{"loadBalancing", {{"policy", "ConsistentHash"}, {"sessionAffinity", json::object()}}}},
            "spec.rules[0].loadBalancing.sessionAffinity", "InvalidField");
  renderBad({{"loadBalancing", {{"policy", "Random"}, {"sessionAffinity", {{"cookieName", "a;b"}}}}}},
            "spec.rules[0].loadBalancing.sessionAffinity.cookieName", "InvalidField");
  renderBad({{"loadBalancing", {{"policy", "Random"}, {"sessionAffinity", {{"ttl", "1d"}}}}}},
            "spec.rules[0].loadBalancing.sessionAffinity.ttl", "InvalidDuration");
  renderBad({{"loadBalancing", {{"policy", "Random"}, {"panicThresholdPercent", 101}}}},
            "spec.rules[0].loadBalancing.panicThresholdPercent", "InvalidField");
  renderBad({{"loadBalancing", {{"policy", "Fastest"}}}}, "spec.rules[0].loadBalancing.policy", "InvalidField");
}

// ---- retries, health checks, outlier detection, circuit breaker ----------------------

TEST_CASE("retries: conditions, statuses, backoff and budget") {
  auto r = renderGood({{"retries",
                        {{"attempts", 3},
                         {"on", {"connect-failure", "reset", "timeout", "5xx", "gateway-error", "429", 503}},
                         {"perTryTimeout", "2s"},
                         {"nonIdempotent", true},
                         {"backoff", {{"base", "10ms"}, {"max", "1s"}}},
                         {"budgetPercent", 30},
                         {"minRetriesInFlight", 5}}}});
  REQUIRE(r.retries.has_value());
  CHECK(r.retries->attempts == 3);
  CHECK(r.retries->onConnectFailure);
  CHECK(r.retries->onReset);
  CHECK(r.retries->onTimeout);
  CHECK(r.retries->on5xx);
  CHECK(r.retries->onStatuses == std::vector<unsigned>{429, 502, 503, 504});
  CHECK(r.retries->perTryTimeout == 2000ms);
  CHECK(r.retries->nonIdempotent);
  CHECK(r.retries->backoffBase == 10ms);
  CHECK(r.retries->backoffMax == 1000ms);
  CHECK(r.retries->budgetPercent == 30);
  CHECK(r.retries->minRetriesInFlight == 5);

  auto d = renderGood({{"retries", json::object()}});
  REQUIRE(d.retries.has_value());
  CHECK(d.retries->attempts == 1);
  CHECK(d.retries->onConnectFailure);
  CHECK(d.retries->onReset);
  CHECK_FALSE(d.retries->on5xx);
  CHECK(d.retries->backoffBase == 25ms);
  CHECK(d.retries->budgetPercent == 20);
}

TEST_CASE("retries diagnostics") {
  renderBad({{"retries", {{"attempts", 11}}}}, "spec.rules[0].retries.attempts", "InvalidField");
  renderBad({{"retries", {{"on", {"reset", "sometimes"}}}}}, "spec.rules[0].retries.on[1]", "InvalidField");
  renderBad({{"retries", {{"on", {"99"}}}}}, "spec.rules[0].retries.on[0]", "InvalidField");
  renderBad({{"retries", {{"on", json::array()}}}}, "spec.rules[0].retries.on", "InvalidField");
  renderBad({{"retries", {{"perTryTimeout", "0s"}}}}, "spec.rules[0].retries.perTryTimeout", "InvalidDuration");
  renderBad({{"retries", {{"backoff", {{"base", "1s"}, {"max", "100ms"}}}}}}, "spec.rules[0].retries.backoff",
            "InvalidField");
  renderBad({{"retries", {{"budgetPercent", 150}}}}, "spec.rules[0].retries.budgetPercent", "InvalidField");
  renderBad({{"retries", {{"nonIdempotent", "yes"}}}}, "spec.rules[0].retries.nonIdempotent", "InvalidField");
  renderBad({{"retries", {{"tries", 2}}}}, "spec.rules[0].retries.tries", "UnknownField");
}

TEST_CASE("healthCheck, outlierDetection and circuitBreaker") {
  auto r = renderGood({{"healthCheck",
                        {{"path", "/ready"},
                         {"host", "Orders.Internal:8080"},
                         {"interval", "10s"},
                         {"timeout", "2s"},
                         {"healthyThreshold", 1},
                         {"unhealthyThreshold", 5}}},
                       {"outlierDetection",
                        {{"consecutive5xx", 0},
                         {"consecutiveGatewayFailures", 3},
                         {"baseEjectionTime", "10s"},
                         {"maxEjectionTime", "5m"},
                         {"maxEjectionPercent", 100}}},
                       {"circuitBreaker", {{"maxConnections", 100}, {"maxPendingRequests", 10}, {"maxRequests", 1000}}}});
  REQUIRE(r.healthCheck.has_value());
  CHECK(r.healthCheck->path == "/ready");
  CHECK(r.healthCheck->host == "orders.internal:8080");
  CHECK(r.healthCheck->interval == 10000ms);
  CHECK(r.healthCheck->timeout == 2000ms);
  CHECK(r.healthCheck->healthyThreshold == 1);
  CHECK(r.healthCheck->unhealthyThreshold == 5);
  REQUIRE(r.outlierDetection.has_value());
  CHECK(r.outlierDetection->consecutive5xx == 0);
  CHECK(r.outlierDetection->consecutiveGatewayFailures == 3);
  CHECK(r.outlierDetection->baseEjectionTime == 10000ms);
  CHECK(r.outlierDetection->maxEjectionTime == 300000ms);
  CHECK(r.outlierDetection->maxEjectionPercent == 100);
  CHECK(r.circuitBreaker.maxConnections == 100);
  CHECK(r.circuitBreaker.maxPendingRequests == 10);
  CHECK(r.circuitBreaker.maxRequests == 1000);

  auto d = renderGood({{"healthCheck", json::object()}, {"outlierDetection", json::object()}});
  CHECK(d.healthCheck->path == "/healthz");
  CHECK(d.healthCheck->interval == 5000ms);
  CHECK(d.outlierDetection->consecutive5xx == 5);
  CHECK(d.circuitBreaker.empty());
  CHECK_FALSE(renderGood({}).healthCheck.has_value());
}

TEST_CASE("healthCheck, outlierDetection and circuitBreaker diagnostics") {
  renderBad({{"healthCheck", {{"path", "ready"}}}}, "spec.rules[0].healthCheck.path", "InvalidPath");
  renderBad({{"healthCheck", {{"host", "bad host"}}}}, "spec.rules[0].healthCheck.host", "InvalidField");
  renderBad({{"healthCheck", {{"interval", "10ms"}}}}, "spec.rules[0].healthCheck.interval", "InvalidDuration");
  renderBad({{"healthCheck", {{"interval", "1s"}, {"timeout", "2s"}}}}, "spec.rules[0].healthCheck.timeout",
            "InvalidField");
  renderBad({{"healthCheck", {{"healthyThreshold", 0}}}}, "spec.rules[0].healthCheck.healthyThreshold",
            "InvalidField");
  renderBad({{"outlierDetection", {{"baseEjectionTime", "10m"}, {"maxEjectionTime", "1m"}}}},
            "spec.rules[0].outlierDetection.maxEjectionTime", "InvalidField");
  renderBad({{"outlierDetection", {{"maxEjectionPercent", 101}}}},
            "spec.rules[0].outlierDetection.maxEjectionPercent", "InvalidField");
  renderBad({{"circuitBreaker", {{"maxRequests", -1}}}}, "spec.rules[0].circuitBreaker.maxRequests", "InvalidField");
  renderBad({{"circuitBreaker", {{"maxRetries", 3}}}}, "spec.rules[0].circuitBreaker.maxRetries", "UnknownField");
}

// ---- ipRules ------------------------------------------------------------------------

TEST_CASE("ipRules: IPv4 and IPv6 addresses and CIDRs, de-duplicated, IPv6 lower-cased") {
  auto r = renderGood({{"ipRules",
                        {{"allow", {"10.0.0.0/8", "192.0.2.1", "2001:DB8::/32", "10.0.0.0/8", "0.0.0.0/0"}},
                         {"deny", {"10.1.2.3/32", "::1"}}}}});
  CHECK(r.ipRules.allow == std::vector<std::string>{"10.0.0.0/8", "192.0.2.1", "2001:db8::/32", "0.0.0.0/0"});
  CHECK(r.ipRules.deny == std::vector<std::string>{"10.1.2.3/32", "::1"});
}

TEST_CASE("ipRules diagnostics name the entry") {
  for (const char* bad : {"10.0.0.0/33", "2001:db8::/129", "10.0.0", "10.0.0.0/", "10.0.0.0/-1", "example.com",
                          "", "10.0.0.0/8/8", "fe80::1%eth0", "10.0.0.1 "}) {
    CAPTURE(bad);
    renderBad({{"ipRules", {{"allow", {"10.0.0.0/8", bad}}}}}, "spec.rules[0].ipRules.allow[1]", "InvalidCIDR");
  }
  renderBad({{"ipRules", {{"deny", {42}}}}}, "spec.rules[0].ipRules.deny[0]", "InvalidField");
  renderBad({{"ipRules", {{"allow", json::array()}}}}, "spec.rules[0].ipRules", "InvalidField");
}

// ---- cors ---------------------------------------------------------------------------

TEST_CASE("cors: origins, methods, headers, credentials and maxAge as seconds or a duration") {
  auto r = renderGood({{"cors",
                        {{"allowOrigins", {"https://app.example.com", "https://*.example.org:8443"}},
                         {"allowMethods", {"get", "POST"}},
                         {"allowHeaders", {"Content-Type", "X-Request-Id"}},
                         {"exposeHeaders", {"X-Trace"}},
                         {"allowCredentials", true},
                         {"maxAge", 600}}}});
  REQUIRE(r.cors.has_value());
  CHECK(r.cors->allowOrigins == std::vector<std::string>{"https://app.example.com", "https://*.example.org:8443"});
  CHECK(r.cors->allowMethods == std::vector<std::string>{"GET", "POST"});
  CHECK(r.cors->allowHeaders == std::vector<std::string>{"Content-Type", "X-Request-Id"});
  CHECK(r.cors->exposeHeaders == std::vector<std::string>{"X-Trace"});
  CHECK(r.cors->allowCredentials);
  CHECK(r.cors->maxAge == std::chrono::seconds(600));
  auto d = renderGood({{"cors", {{"allowOrigins", {"*"}}, {"allowHeaders", {"*"}}, {"maxAge", "10m"}}}});
  CHECK(d.cors->maxAge == std::chrono::seconds(600));
  CHECK_FALSE(d.cors->allowCredentials);
  CHECK_FALSE(renderGood({{"cors", {{"allowOrigins", {"*"}}}}}).cors->maxAge.has_value());
}

TEST_CASE("cors diagnostics") {
  renderBad({{"cors", {{"allowOrigins", {"app.example.com"}}}}}, "spec.rules[0].cors.allowOrigins[0]", "InvalidField");
  renderBad({{"cors", {{"allowOrigins", {"https://a.example.com/path"}}}}}, "spec.rules[0].cors.allowOrigins[0]",
            "InvalidField");
  renderBad({{"cors", {{"allowOrigins", {"*"}}, {"allowCredentials", true}}}}, "spec.rules[0].cors.allowCredentials",
            "InvalidField");
  renderBad({{"cors", {{"allowOrigins", {"*"}}, {"maxAge", 86401}}}}, "spec.rules[0].cors.maxAge", "InvalidField");
  renderBad({{"cors", {{"allowOrigins", {"*"}}, {"maxAge", "2d"}}}}, "spec.rules[0].cors.maxAge", "InvalidDuration");
  renderBad({{"cors", {{"allowOrigins", {"*"}}, {"allowHeaders", {"a b"}}}}}, "spec.rules[0].cors.allowHeaders[0]",
            "InvalidField");
  renderBad({{"cors", json::object()}}, "spec.rules[0].cors.allowOrigins", "InvalidField");
}

// ---- auth ---------------------------------------------------------------------------

TEST_CASE("auth.apiKey reads consumers and keys from an Opaque Secret in the APIRoute's namespace") {
  auto r = renderGood({{"auth", {{"apiKey", {{"secretName", "keys"}}}}}}, {keysSecret()});
  REQUIRE(r.auth.apiKey.has_value());
  CHECK(r.auth.apiKey->header == "X-API-Key");
  CHECK(r.auth.apiKey->query.empty());
  // Sorted by consumer; the trailing newline of a --from-file value is dropped.
  CHECK(r.auth.apiKey->keys == std::vector<std::pair<std::string, std::string>>{{"alice", "key-alice"}, {"bob", "key-bob"}});
  auto q = renderGood({{"auth", {{"apiKey", {{"query", "api_key"}, {"secretName", "keys"}}}}}}, {keysSecret()});
  CHECK(q.auth.apiKey->header.empty());
  CHECK(q.auth.apiKey->query == "api_key");
  auto h = renderGood({{"auth", {{"apiKey", {{"header", "X-Token"}, {"secretName", "keys"}}}}}}, {keysSecret()});
  CHECK(h.auth.apiKey->header == "X-Token");
  // stringData (a standalone file) works too and wins over data.
  json s = keysSecret();
  s["stringData"] = {{"bob", "key-bob-2"}};
  auto sd = renderGood({{"auth", {{"apiKey", {{"secretName", "keys"}}}}}}, {s});
  CHECK(sd.auth.apiKey->keys[1].second == "key-bob-2");
}

TEST_CASE("auth.apiKey: a missing, empty or unusable Secret rejects the rule (ResolvedRefs)") {
  auto missing = renderBad({{"auth", {{"apiKey", {{"secretName", "keys"}}}}}}, "spec.rules[0].auth.apiKey.secretName",
                           "SecretNotFound");
  CHECK(missing.condition == "ResolvedRefs");
  CHECK(missing.message.find("shop/keys") != std::string::npos);
  // The Secret in another namespace does not count.
  renderBad({{"auth", {{"apiKey", {{"secretName", "keys"}}}}}}, "spec.rules[0].auth.apiKey.secretName",
            "SecretNotFound", {opaqueSecret("other", "keys", {{"alice", "k"}})});
  renderBad({{"auth", {{"apiKey", {{"secretName", "keys"}}}}}}, "spec.rules[0].auth.apiKey.secretName",
            "InvalidSecret", {opaqueSecret("shop", "keys", {})});
  renderBad({{"auth", {{"apiKey", {{"secretName", "keys"}}}}}}, "spec.rules[0].auth.apiKey.secretName",
            "InvalidSecret", {opaqueSecret("shop", "keys", {{"alice", "\n"}})});
  auto dup = renderBad({{"auth", {{"apiKey", {{"secretName", "keys"}}}}}}, "spec.rules[0].auth.apiKey.secretName",
                       "InvalidSecret", {opaqueSecret("shop", "keys", {{"alice", "same-key"}, {"bob", "same-key"}})});
  CHECK(dup.message.find("same-key") == std::string::npos);  // never the value
  CHECK(dup.message.find("data[bob]") != std::string::npos);
  json badBase64 = opaqueSecret("shop", "keys", {});
  badBase64["data"] = {{"alice", "%%%"}};
  renderBad({{"auth", {{"apiKey", {{"secretName", "keys"}}}}}}, "spec.rules[0].auth.apiKey.secretName",
            "InvalidSecret", {badBase64});
  renderBad({{"auth", {{"apiKey", {{"header", "X-A"}, {"query", "k"}, {"secretName", "keys"}}}}}},
            "spec.rules[0].auth.apiKey", "InvalidField", {keysSecret()});
  renderBad({{"auth", {{"apiKey", {{"header", "Host"}, {"secretName", "keys"}}}}}},
            "spec.rules[0].auth.apiKey.header", "InvalidField", {keysSecret()});
  renderBad({{"auth", {{"apiKey", {{"header", "X-A"}}}}}}, "spec.rules[0].auth.apiKey.secretName", "InvalidField");
  renderBad({{"auth", {{"apiKey", {{"secretName", "Bad_Name"}}}}}}, "spec.rules[0].auth.apiKey.secretName",
            "InvalidField");
}

TEST_CASE("auth: exactly one method") {
  renderBad({{"auth", json::object()}}, "spec.rules[0].auth", "InvalidField");
  renderBad({{"auth", {{"apiKey", {{"secretName", "keys"}}}, {"basic", {{"secretName", "users"}}}}}},
            "spec.rules[0].auth", "InvalidField");
  renderBad({{"auth", {{"apiKey", nullptr}}}}, "spec.rules[0].auth.apiKey", "InvalidField");
}

TEST_CASE("auth.basic reads htpasswd from data key auth or htpasswd") {
  std::string text = "# users\nalice:" + kBcryptAlice + "\r\n\n  bob:" + kShaBob + "\n";
  auto r = renderGood({{"auth", {{"basic", {{"secretName", "users"}, {"realm", "shop"}}}}}},
                      {opaqueSecret("shop", "users", {{"auth", text}})});
  REQUIRE(r.auth.basic.has_value());
  CHECK(r.auth.basic->realm == "shop");
  CHECK(r.auth.basic->htpasswd == "alice:" + kBcryptAlice + "\nbob:" + kShaBob);
  auto h = renderGood({{"auth", {{"basic", {{"secretName", "users"}}}}}},
                      {opaqueSecret("shop", "users", {{"htpasswd", "alice:" + kBcryptAlice}})});
  CHECK(h.auth.basic->realm == "portico");
  CHECK(h.auth.basic->htpasswd == "alice:" + kBcryptAlice);
}

TEST_CASE("auth.basic diagnostics") {
  auto basic = json{{"auth", {{"basic", {{"secretName", "users"}}}}}};
  const std::string f = "spec.rules[0].auth.basic.secretName";
  renderBad(basic, f, "SecretNotFound");
  renderBad(basic, f, "InvalidSecret", {opaqueSecret("shop", "users", {{"users", "alice:" + kBcryptAlice}})});
  renderBad(basic, f, "InvalidSecret",
            {opaqueSecret("shop", "users", {{"auth", "a:" + kBcryptAlice}, {"htpasswd", "b:" + kBcryptAlice}})});
  renderBad(basic, f, "InvalidSecret", {opaqueSecret("shop", "users", {{"auth", "# nobody\n"}})});
  auto md5 = renderBad(basic, f, "InvalidSecret",
                       {opaqueSecret("shop", "users", {{"auth", "alice:$apr1$abcdefgh$0123456789abcdefghijkl"}})});
  CHECK(md5.message.find("line 1 (user \"alice\")") != std::string::npos);
  CHECK(md5.message.find("0123456789") == std::string::npos);
  renderBad(basic, f, "InvalidSecret", {opaqueSecret("shop", "users", {{"auth", "alice:{SHA}abc"}})});
  renderBad(basic, f, "InvalidSecret", {opaqueSecret("shop", "users", {{"auth", "alice:plaintext"}})});
  renderBad(basic, f, "InvalidSecret", {opaqueSecret("shop", "users", {{"auth", "alice:$2y$05$short"}})});
  renderBad(basic, f, "InvalidSecret", {opaqueSecret("shop", "users", {{"auth", "no-colon"}})});
  renderBad(basic, f, "InvalidSecret",
            {opaqueSecret("shop", "users", {{"auth", "alice:" + kBcryptAlice + "\nalice:" + kShaBob}})});
  renderBad({{"auth", {{"basic", {{"secretName", "users"}, {"realm", "a\"b"}}}}}}, "spec.rules[0].auth.basic.realm",
            "InvalidField", {opaqueSecret("shop", "users", {{"auth", "alice:" + kBcryptAlice}})});
}

TEST_CASE("auth.jwt with jwksURI, or a JWKS Secret whose private members are dropped") {
  auto r = renderGood({{"auth",
                        {{"jwt",
                          {{"issuer", "https://issuer.example.com"},
                           {"audiences", {"orders", "orders"}},
                           {"jwksURI", "https://issuer.example.com/.well-known/jwks.json"},
                           {"forwardClaims", {{"sub", "X-User"}, {"email", "X-Email"}}},
                           {"leeway", "5s"}}}}}});
  REQUIRE(r.auth.jwt.has_value());
  CHECK(r.auth.jwt->issuer == "https://issuer.example.com");
  CHECK(r.auth.jwt->audiences == std::vector<std::string>{"orders"});
  CHECK(r.auth.jwt->jwksUri == "https://issuer.example.com/.well-known/jwks.json");
  CHECK(r.auth.jwt->jwks.empty());
  CHECK(r.auth.jwt->forwardClaims ==
        std::vector<std::pair<std::string, std::string>>{{"email", "X-Email"}, {"sub", "X-User"}});
  CHECK(r.auth.jwt->leeway == 5000ms);

  json jwks = {{"keys",
                {{{"kty", "RSA"}, {"kid", "k1"}, {"n", "AQAB-n"}, {"e", "AQAB"}, {"d", "PRIVATE-D"}, {"p", "PRIVATE-P"}},
                 {{"kty", "oct"}, {"kid", "h1"}, {"k", "c2VjcmV0"}}}}};
  auto s = renderGood({{"auth", {{"jwt", {{"secretName", "jwks"}}}}}},
                      {opaqueSecret("shop", "jwks", {{"jwks", jwks.dump()}})});
  REQUIRE(s.auth.jwt.has_value());
  CHECK(s.auth.jwt->jwksUri.empty());
  CHECK(s.auth.jwt->leeway == 30000ms);
  json kept = json::parse(s.auth.jwt->jwks);
  CHECK(kept["keys"][0]["n"] == "AQAB-n");
  CHECK_FALSE(kept["keys"][0].contains("d"));
  CHECK_FALSE(kept["keys"][0].contains("p"));
  CHECK(kept["keys"][1]["k"] == "c2VjcmV0");  // HMAC keys are the verification key
}

TEST_CASE("auth.jwt diagnostics") {
  renderBad({{"auth", {{"jwt", {{"issuer", "x"}}}}}}, "spec.rules[0].auth.jwt", "InvalidField");
  renderBad({{"auth", {{"jwt", {{"jwksURI", "https://a/jwks"}, {"secretName", "jwks"}}}}}}, "spec.rules[0].auth.jwt",
            "InvalidField");
  renderBad({{"auth", {{"jwt", {{"jwksURI", "ftp://a/jwks"}}}}}}, "spec.rules[0].auth.jwt.jwksURI", "InvalidField");
  renderBad({{"auth", {{"jwt", {{"jwksURI", "https://a/jwks"}, {"forwardClaims", {{"sub", "Bad Header"}}}}}}}},
            "spec.rules[0].auth.jwt.forwardClaims.sub", "InvalidField");
  renderBad({{"auth", {{"jwt", {{"jwksURI", "https://a/jwks"}, {"leeway", "1h"}}}}}}, "spec.rules[0].auth.jwt.leeway",
            "InvalidField");
  const std::string f = "spec.rules[0].auth.jwt.secretName";
  json byRef = {{"auth", {{"jwt", {{"secretName", "jwks"}}}}}};
  renderBad(byRef, f, "SecretNotFound");
  renderBad(byRef, f, "InvalidSecret", {opaqueSecret("shop", "jwks", {{"keys", "{}"}})});
  renderBad(byRef, f, "InvalidSecret", {opaqueSecret("shop", "jwks", {{"jwks", "not json"}})});
  renderBad(byRef, f, "InvalidSecret", {opaqueSecret("shop", "jwks", {{"jwks", R"({"keys":[]})"}})});
  renderBad(byRef, f, "InvalidSecret", {opaqueSecret("shop", "jwks", {{"jwks", R"({"keys":[{"kty":"DSA"}]})"}})});
  renderBad(byRef, f, "InvalidSecret", {opaqueSecret("shop", "jwks", {{"jwks", R"({"keys":[{"kty":"oct"}]})"}})});
}

TEST_CASE("auth.jwt.jwksTLS: the backendTLS fields for an https key server") {
  auto r = renderGood({{"auth", {{"jwt", {{"jwksURI", "https://idp.example:8443/keys"},
                                          {"jwksTLS", {{"caSecretName", "idp-ca"}, {"subjectAltNames", {"idp.internal"}}}}}}}}},
                      {opaqueSecret("shop", "idp-ca", {{"ca.crt", certA()}})});
  REQUIRE(r.auth.jwt->jwksTls.has_value());
  CHECK(r.auth.jwt->jwksTls->serverName == "idp.example");
  CHECK(r.auth.jwt->jwksTls->subjectAltNames == std::vector<std::string>{"idp.internal"});
  CHECK(r.auth.jwt->jwksTls->caPem == certA());
  renderBad({{"auth", {{"jwt", {{"jwksURI", "http://idp.example/keys"}, {"jwksTLS", {{"sni", "idp"}}}}}}}},
            "spec.rules[0].auth.jwt.jwksTLS", "InvalidField");
  auto missing = renderRule({{"auth", {{"jwt", {{"jwksURI", "https://idp/keys"}, {"jwksTLS", {{"caSecretName", "x"}}}}}}}});
  CHECK(missing.table.routes.empty());
  CHECK_FALSE(diagnosticsAt(missing, "spec.rules[0].auth.jwt.jwksTLS.caSecretName").empty());
}

TEST_CASE("auth.external") {
  auto r = renderGood({{"auth",
                        {{"external",
                          {{"url", "http://authz.auth:8080/check"},
                           {"timeout", "500ms"},
                           {"forwardHeaders", {"Authorization", "Cookie"}},
                           {"upstreamHeaders", {"X-User"}},
                           {"failOpen", true}}}}}});
  REQUIRE(r.auth.external.has_value());
  CHECK(r.auth.external->url == "http://authz.auth:8080/check");
  CHECK(r.auth.external->timeout == 500ms);
  CHECK(r.auth.external->forwardHeaders == std::vector<std::string>{"Authorization", "Cookie"});
  CHECK(r.auth.external->upstreamHeaders == std::vector<std::string>{"X-User"});
  CHECK(r.auth.external->failOpen);
  auto d = renderGood({{"auth", {{"external", {{"url", "http://authz"}}}}}});
  CHECK(d.auth.external->timeout == 2000ms);
  CHECK_FALSE(d.auth.external->failOpen);

  renderBad({{"auth", {{"external", json::object()}}}}, "spec.rules[0].auth.external.url", "InvalidField");
  renderBad({{"auth", {{"external", {{"url", "authz:8080"}}}}}}, "spec.rules[0].auth.external.url", "InvalidField");
  renderBad({{"auth", {{"external", {{"url", "http://a"}, {"timeout", "soon"}}}}}},
            "spec.rules[0].auth.external.timeout", "InvalidDuration");
  renderBad({{"auth", {{"external", {{"url", "http://a"}, {"upstreamHeaders", {"Content-Length"}}}}}}},
            "spec.rules[0].auth.external.upstreamHeaders[0]", "InvalidField");
  renderBad({{"auth", {{"external", {{"url", "http://a"}, {"failOpen", "yes"}}}}}},
            "spec.rules[0].auth.external.failOpen", "InvalidField");

  // tls: the backendTLS fields for an https service; the default name is the url's host.
  auto t = renderGood({{"auth", {{"external", {{"url", "https://Authz.example.com:9443/check"},
                                                {"tls", {{"caSecretName", "authz-ca"}}}}}}}},
                      {opaqueSecret("shop", "authz-ca", {{"ca.crt", certA()}})});
  REQUIRE(t.auth.external->tls.has_value());
  CHECK(t.auth.external->tls->serverName == "authz.example.com");
  CHECK(t.auth.external->tls->caPem == certA());
  CHECK(t.auth.external->tls->caSource == "shop/authz-ca");
  CHECK_FALSE(renderGood({{"auth", {{"external", {{"url", "https://a"}}}}}}).auth.external->tls.has_value());
  renderBad({{"auth", {{"external", {{"url", "http://a"}, {"tls", {{"sni", "a"}}}}}}}},
            "spec.rules[0].auth.external.tls", "InvalidField");
  // A missing CA Secret: the rule is not served (never with a weaker check).
  auto missing = renderRule({{"auth", {{"external", {{"url", "https://a"}, {"tls", {{"caSecretName", "nope"}}}}}}}});
  CHECK(missing.table.routes.empty());
  CHECK_FALSE(diagnosticsAt(missing, "spec.rules[0].auth.external.tls.caSecretName").empty());
}

TEST_CASE("a Secret rotation changes the table; the JSON view shows fingerprints, never the material") {
  auto renderWith = [](const std::string& key) {
    ObjectSnapshot s;
    s.apiRoutes = {apiRoute("shop", "orders",
                            {{"rules", {rule("r", {{"auth", {{"apiKey", {{"secretName", "keys"}}}}}})}}})};
    s.secrets = {opaqueSecret("shop", "keys", {{"alice", key}})};
    return render(s, RenderOptions{});
  };
  auto before = renderWith("first-secret-key");
  auto after = renderWith("second-secret-key");
  REQUIRE(before.table.routes.size() == 1);
  REQUIRE(after.table.routes.size() == 1);
  CHECK(before.table.routes[0].auth.apiKey->keys[0].second == "first-secret-key");
  CHECK(after.table.routes[0].auth.apiKey->keys[0].second == "second-secret-key");
  std::string a = toJson(before.table, /*includePrivateKeys=*/true).dump();
  std::string b = toJson(after.table, /*includePrivateKeys=*/true).dump();
  CHECK(a != b);
  CHECK(a.find("first-secret-key") == std::string::npos);
  CHECK(b.find("second-secret-key") == std::string::npos);
  CHECK(a.find("\"consumers\":[\"alice\"]") != std::string::npos);
  CHECK(a.find("sha256:") != std::string::npos);
  // Same input, same bytes.
  CHECK(toJson(renderWith("first-secret-key").table).dump() == toJson(before.table).dump());

  // Neither htpasswd hashes nor private JWKS parts nor HMAC keys reach the JSON.
  ObjectSnapshot s;
  s.apiRoutes = {apiRoute("shop", "orders",
                          {{"rules",
                            {rule("b", {{"auth", {{"basic", {{"secretName", "users"}}}}}}),
                             rule("j", {{"auth", {{"jwt", {{"secretName", "jwks"}}}}}})}}})};
  s.secrets = {opaqueSecret("shop", "users", {{"auth", "alice:" + kBcryptAlice}}),
               opaqueSecret("shop", "jwks", {{"jwks", R"({"keys":[{"kty":"oct","kid":"h1","k":"SECRETHMAC"},
                                                           {"kty":"EC","kid":"e1","x":"X","y":"Y","d":"PRIVATED"}]})"}})};
  auto both = render(s, RenderOptions{});
  REQUIRE(both.table.routes.size() == 2);
  std::string j = toJson(both.table, true).dump();
  CHECK(j.find(kBcryptAlice) == std::string::npos);
  CHECK(j.find("SECRETHMAC") == std::string::npos);
  CHECK(j.find("PRIVATED") == std::string::npos);
  CHECK(j.find("\"users\":[\"alice\"]") != std::string::npos);
  CHECK(j.find("\"jwksKeyIds\":[\"h1\",\"e1\"]") != std::string::npos);
}

// ---- rateLimit ----------------------------------------------------------------------

TEST_CASE("rateLimit: requests, period, burst, key, mode and failureMode") {
  auto r = renderGood({{"rateLimit", {{"requests", 100}, {"period", "1m"}, {"burst", 20}}}});
  REQUIRE(r.rateLimit.has_value());
  CHECK(r.rateLimit->requests == 100);
  CHECK(r.rateLimit->period == 60000ms);
  CHECK(r.rateLimit->burst == 20);
  CHECK(r.rateLimit->key == proxy::RateLimitKey::ClientIP);
  CHECK_FALSE(r.rateLimit->global);
  CHECK(r.rateLimit->failOpen);

  auto h = renderGood({{"rateLimit", {{"requests", 5}, {"period", "1s"}, {"key", "Header:X-Tenant"},
                                      {"mode", "Global"}, {"failureMode", "Closed"}}}});
  CHECK(h.rateLimit->key == proxy::RateLimitKey::Header);
  CHECK(h.rateLimit->keyName == "X-Tenant");
  CHECK(h.rateLimit->global);
  CHECK_FALSE(h.rateLimit->failOpen);

  auto c = renderGood({{"auth", {{"apiKey", {{"secretName", "keys"}}}}},
                       {"rateLimit", {{"requests", 5}, {"period", "1s"}, {"key", "Consumer"}}}},
                      {keysSecret()});
  CHECK(c.rateLimit->key == proxy::RateLimitKey::Consumer);
  auto j = renderGood({{"auth", {{"jwt", {{"jwksURI", "https://a/jwks"}}}}},
                       {"rateLimit", {{"requests", 5}, {"period", "1s"}, {"key", "Claim:tenant"}}}});
  CHECK(j.rateLimit->key == proxy::RateLimitKey::Claim);
  CHECK(j.rateLimit->keyName == "tenant");
}

TEST_CASE("rateLimit diagnostics") {
  renderBad({{"rateLimit", {{"period", "1s"}}}}, "spec.rules[0].rateLimit.requests", "InvalidField");
  renderBad({{"rateLimit", {{"requests", 0}, {"period", "1s"}}}}, "spec.rules[0].rateLimit.requests", "InvalidField");
  renderBad({{"rateLimit", {{"requests", 1}}}}, "spec.rules[0].rateLimit.period", "InvalidField");
  renderBad({{"rateLimit", {{"requests", 1}, {"period", "0s"}}}}, "spec.rules[0].rateLimit.period", "InvalidDuration");
  renderBad({{"rateLimit", {{"requests", 1}, {"period", "1s"}, {"key", "IP"}}}}, "spec.rules[0].rateLimit.key",
            "InvalidField");
  renderBad({{"rateLimit", {{"requests", 1}, {"period", "1s"}, {"key", "Consumer"}}}}, "spec.rules[0].rateLimit.key",
            "InvalidField");
  renderBad({{"rateLimit", {{"requests", 1}, {"period", "1s"}, {"key", "Claim:sub"}}}}, "spec.rules[0].rateLimit.key",
            "InvalidField");
  // External auth admits or refuses but names no consumer.
  renderBad({{"auth", {{"external", {{"url", "http://authz:8080/check"}}}}},
             {"rateLimit", {{"requests", 1}, {"period", "1s"}, {"key", "Consumer"}}}},
            "spec.rules[0].rateLimit.key", "InvalidField");
  // A Consumer key with an auth whose Secret is missing: only the Secret is reported.
  auto r = renderRule({{"auth", {{"apiKey", {{"secretName", "keys"}}}}},
                       {"rateLimit", {{"requests", 1}, {"period", "1s"}, {"key", "Consumer"}}}});
  CHECK(r.table.routes.empty());
  REQUIRE(r.diagnostics.size() == 1);
  CHECK(r.diagnostics[0].reason == "SecretNotFound");
  renderBad({{"rateLimit", {{"requests", 1}, {"period", "1s"}, {"mode", "Cluster"}}}}, "spec.rules[0].rateLimit.mode",
            "InvalidField");
  renderBad({{"rateLimit", {{"requests", 1}, {"period", "1s"}, {"failureMode", "Closed"}}}},
            "spec.rules[0].rateLimit.failureMode", "InvalidField");
  renderBad({{"rateLimit", {{"requests", 1}, {"period", "1s"}, {"mode", "Global"}, {"failureMode", "Shut"}}}},
            "spec.rules[0].rateLimit.failureMode", "InvalidField");
}

// ---- redirect and regex rewrite -----------------------------------------------------

TEST_CASE("redirect: a rule without backends answered by Portico") {
  json r = {{"name", "old"},
            {"redirect", {{"scheme", "https"}, {"host", "New.Example.com"}, {"port", 8443}, {"path", "/v2"}, {"statusCode", 301}}}};
  auto table = renderRoutes({apiRoute("shop", "orders", {{"rules", {r}}})});
  for (const auto& d : table.diagnostics) FAIL_CHECK(d.message);
  REQUIRE(table.table.routes.size() == 1);
  const auto& route = table.table.routes[0];
  CHECK(route.backends.empty());
  REQUIRE(route.redirect.has_value());
  CHECK(route.redirect->scheme == "https");
  CHECK(route.redirect->host == "new.example.com");
  CHECK(route.redirect->port == 8443);
  CHECK(route.redirect->path == "/v2");
  CHECK(route.redirect->status == 301);
  auto d = renderRoutes({apiRoute("shop", "orders", {{"rules", {{{"name", "r"}, {"redirect", {{"scheme", "https"}}}}}}})});
  REQUIRE(d.table.routes.size() == 1);
  CHECK(d.table.routes[0].redirect->status == 302);
  CHECK_FALSE(d.table.routes[0].redirect->host.has_value());
}

TEST_CASE("redirect diagnostics") {
  auto bad = [](json redirect, const std::string& field, const std::string& reason) {
    CAPTURE(field);
    auto result = renderRoutes({apiRoute("shop", "orders", {{"rules", {{{"name", "r"}, {"redirect", redirect}}}}})});
    CHECK(result.table.routes.empty());
    auto at = diagnosticsAt(result, field);
    REQUIRE_MESSAGE(at.size() == 1, diagnosticsText(result));
    CHECK(at[0].reason == reason);
  };
  bad({{"scheme", "ftp"}}, "spec.rules[0].redirect.scheme", "InvalidField");
  bad({{"host", "bad host"}}, "spec.rules[0].redirect.host", "InvalidField");
  bad({{"port", 0}}, "spec.rules[0].redirect.port", "InvalidField");
  bad({{"path", "v2"}}, "spec.rules[0].redirect.path", "InvalidPath");
  bad({{"path", "/v2"}, {"statusCode", 304}}, "spec.rules[0].redirect.statusCode", "InvalidField");
  bad({{"statusCode", 301}}, "spec.rules[0].redirect", "InvalidField");
  // With backends, or with a rewrite: refused.
  renderBad({{"redirect", {{"scheme", "https"}}}}, "spec.rules[0].backends", "InvalidField");
  auto both = renderRoutes({apiRoute("shop", "orders", {{"rules", {{{"name", "r"}, {"redirect", {{"scheme", "https"}}},
                                                                     {"rewrite", {{"host", "a.example.com"}}}}}}})});
  CHECK(both.table.routes.empty());
  CHECK(diagnosticsAt(both, "spec.rules[0].rewrite").size() == 1);
  // Without redirect, backends stay required.
  auto none = renderRoutes({apiRoute("shop", "orders", {{"rules", {{{"name", "r"}}}}})});
  CHECK(diagnosticsAt(none, "spec.rules[0].backends").size() == 1);
}

TEST_CASE("rewrite.regex: RE2 pattern and substitution, exclusive with pathPrefix") {
  auto r = renderGood({{"rewrite", {{"regex", {{"pattern", "^/api/v1/(.*)$"}, {"substitution", "/\\1"}}}}}});
  REQUIRE(r.rewritePathRegex.has_value());
  CHECK(r.rewritePathRegex->pattern == "^/api/v1/(.*)$");
  CHECK(r.rewritePathRegex->substitution == "/\\1");
  CHECK_FALSE(r.rewritePathPrefix.has_value());
  renderBad({{"rewrite", {{"regex", {{"pattern", "(("}, {"substitution", "/"}}}}}}, "spec.rules[0].rewrite.regex.pattern",
            "InvalidRegex");
  renderBad({{"rewrite", {{"regex", {{"pattern", "^/(a)$"}, {"substitution", "/\\2"}}}}}},
            "spec.rules[0].rewrite.regex.substitution", "InvalidField");
  renderBad({{"rewrite", {{"regex", {{"pattern", "^/(a)$"}}}}}}, "spec.rules[0].rewrite.regex.substitution",
            "InvalidField");
  renderBad({{"rewrite", {{"pathPrefix", "/v1"}, {"regex", {{"pattern", "a"}, {"substitution", "b"}}}}}},
            "spec.rules[0].rewrite", "InvalidField");
}

TEST_CASE("every policy of a rule renders deterministically, and all problems are reported") {
  json everything = {{"loadBalancing", {{"policy", "ConsistentHash"}, {"hashOn", "Cookie:sid"}}},
                     {"retries", {{"attempts", 2}}},
                     {"healthCheck", {{"path", "/ready"}}},
                     {"outlierDetection", {{"consecutive5xx", 3}}},
                     {"circuitBreaker", {{"maxRequests", 10}}},
                     {"ipRules", {{"deny", {"192.0.2.0/24"}}}},
                     {"cors", {{"allowOrigins", {"https://a.example.com"}}}},
                     {"auth", {{"apiKey", {{"secretName", "keys"}}}}},
                     {"rateLimit", {{"requests", 10}, {"period", "1s"}, {"key", "Consumer"}}}};
  auto a = renderRule(everything, {keysSecret()});
  auto b = renderRule(everything, {keysSecret()});
  CHECK(a.diagnostics.empty());
  CHECK(toJson(a.table).dump() == toJson(b.table).dump());
  auto bad = renderRule({{"ipRules", {{"allow", {"x"}}}}, {"retries", {{"attempts", 99}}}, {"cors", {{"allowOrigins", {"y"}}}}});
  CHECK(bad.table.routes.empty());
  CHECK(bad.diagnostics.size() == 3);
}

TEST_CASE("examples/gateway.yaml renders every route without a diagnostic") {
  auto table = renderConfigFile(testdataPath("../../../examples/gateway.yaml"));
  REQUIRE_MESSAGE(table.has_value(), (table ? std::string() : table.error().message));
}

}  // TEST_SUITE
