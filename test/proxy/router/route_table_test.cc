#include "proxy/config/route_table.h"

#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include "test/proxy/router/fake_request.h"

using namespace portico::proxy;
using namespace portico::proxy::testing;

namespace {

RouteTableSpec specOf(std::vector<RouteSpec> routes) {
  RouteTableSpec spec;
  spec.routes = std::move(routes);
  return spec;
}

CertificateSpec certificate(std::string name, std::vector<std::string> hosts,
                            bool isDefault = false) {
  CertificateSpec c;
  c.name = std::move(name);
  c.hosts = std::move(hosts);
  c.certificatePem = "-----BEGIN CERTIFICATE-----\nCERTDATA\n-----END CERTIFICATE-----\n";
  c.privateKeyPem = "-----BEGIN PRIVATE KEY-----\nSECRETKEY\n-----END PRIVATE KEY-----\n";
  c.isDefault = isDefault;
  return c;
}

}  // namespace

TEST_SUITE("router") {
  TEST_CASE("build fails on an invalid path regex, naming the route and the field") {
    auto built = RouteTable::build(
        specOf({prefix("shop/orders/ok", "/"), regex("shop/orders/bad", "/users/(")}), 1);
    REQUIRE_FALSE(built);
    const std::string& message = built.error().message;
    CAPTURE(message);
    CHECK(message.find("shop/orders/bad") != std::string::npos);
    CHECK(message.find("match.path.value") != std::string::npos);
    CHECK(message.find("/users/(") != std::string::npos);
    CHECK(message.find("shop/orders/ok") == std::string::npos);
  }

  TEST_CASE("build fails on an invalid header regex, naming the route, the header and the field") {
    RouteSpec bad = prefix("shop/api/canary", "/");
    bad.headers.push_back({"X-Ok", HeaderMatchType::Exact, "(unbalanced is fine for Exact"});
    bad.headers.push_back({"X-Version", HeaderMatchType::RegularExpression, "[0-9"});
    auto built = RouteTable::build(specOf({bad}), 1);
    REQUIRE_FALSE(built);
    const std::string& message = built.error().message;
    CAPTURE(message);
    CHECK(message.find("shop/api/canary") != std::string::npos);
    CHECK(message.find("match.headers[1].value") != std::string::npos);
    CHECK(message.find("X-Version") != std::string::npos);
  }

  TEST_CASE("build accepts regexes that are valid RE2 and shares identical ones") {
    RouteSpec a = regex("a", "/v[0-9]+/.*");
    RouteSpec b = regex("b", "/v[0-9]+/.*", {"b.com"});
    b.headers.push_back({"x", HeaderMatchType::RegularExpression, "/v[0-9]+/.*"});
    auto built = RouteTable::build(specOf({a, b}), 1);
    REQUIRE(built);
    CHECK(matchedName(**built, FakeRequest("b.com", "/v1/x").withHeader("x", "/v2/y")) == "b");
    CHECK(matchedName(**built, FakeRequest("b.com", "/v1/x")) == "a");
  }

  TEST_CASE("build fails on a certificate without a certificate or a key") {
    RouteTableSpec spec;
    spec.certificates.push_back(certificate("shop/api-tls", {"api.example.com"}));
    spec.certificates.back().privateKeyPem.clear();
    auto built = RouteTable::build(spec, 1);
    REQUIRE_FALSE(built);
    CHECK(built.error().message.find("shop/api-tls") != std::string::npos);
    CHECK(built.error().message.find("privateKeyPem") != std::string::npos);

    spec.certificates.back() = certificate("shop/other-tls", {});
    spec.certificates.back().certificatePem.clear();
    auto second = RouteTable::build(spec, 1);
    REQUIRE_FALSE(second);
    CHECK(second.error().message.find("certificatePem") != std::string::npos);
  }

  TEST_CASE("redirectsToHttps covers exact and wildcard hosts only") {
    RouteTableSpec spec;
    spec.httpsRedirectHosts = {"Secure.Example.com", "*.shop.example.com"};
    auto built = RouteTable::build(spec, 1);
    REQUIRE(built);
    const RouteTable& table = **built;
    CHECK(table.redirectsToHttps("secure.example.com"));
    CHECK(table.redirectsToHttps("a.shop.example.com"));
    CHECK_FALSE(table.redirectsToHttps("shop.example.com"));
    CHECK_FALSE(table.redirectsToHttps("a.b.shop.example.com"));
    CHECK_FALSE(table.redirectsToHttps("example.com"));
    CHECK_FALSE(table.redirectsToHttps("other.example.com"));
  }

  TEST_CASE("toJson describes the live table without private keys") {
    RouteSpec r = exact("shop/orders/read", "/orders", {"API.example.com"});
    r.methods = {"GET", "HEAD"};
    r.headers.push_back({"X-Canary", HeaderMatchType::Exact, "yes"});
    r.headers.push_back({"X-Debug", HeaderMatchType::Present, ""});
    r.query.push_back({"v", "2"});
    BackendSpec backend;
    backend.key = "shop/orders:8080";
    backend.weight = 90;
    backend.endpoints = {{"10.0.0.1", 8080, 1}, {"10.0.0.2", 8080, 3}};
    r.backends.push_back(backend);
    BackendSpec secure;
    secure.key = "shop/ledger:8443";
    secure.tls = UpstreamTlsSpec{.serverName = "ledger.shop.svc",
                                 .caPem = "CAPEMDATA",
                                 .caSource = "shop/ledger-ca",
                                 .clientCertificatePem = "CLIENTCERTDATA",
                                 .clientKeyPem = "CLIENTKEYSECRET",
                                 .clientCertificateSource = "shop/edge-client"};
    r.backends.push_back(secure);
    r.loadBalancing = LoadBalancingPolicy::LeastRequest;
    r.timeouts.connect = Millis(2000);
    r.rewritePathPrefix = "/v1/orders";
    r.requestHeaders.set = {{"X-Env", "prod"}};
    r.requestHeaders.remove = {"X-Debug"};
    r.responseHeaders.remove = {"Server"};
    r.maxRequestBodyBytes = 1024;
    r.auth.apiKey = ApiKeyAuthSpec{"X-API-Key", "", {{"alice", "APIKEYSECRET"}, {"bob", "OTHERSECRET"}}};
    r.rateLimit = RateLimitSpec{.requests = 100, .period = Millis(60000), .burst = 20};
    r.retries = RetrySpec{.attempts = 2};

    RouteTableSpec spec;
    spec.routes = {r, regex("shop/orders/re", "/x/.*")};
    spec.certificates = {certificate("shop/api-tls", {"api.example.com"}, true)};
    spec.httpsRedirectHosts = {"api.example.com"};
    auto built = RouteTable::build(spec, 42);
    REQUIRE(built);
    const std::string text = (*built)->toJson();
    CHECK(text.find("SECRETKEY") == std::string::npos);
    CHECK(text.find("CERTDATA") == std::string::npos);
    CHECK(text.find("APIKEYSECRET") == std::string::npos);
    CHECK(text.find("CLIENTKEYSECRET") == std::string::npos);
    CHECK(text.find("CLIENTCERTDATA") == std::string::npos);
    CHECK(text.find("CAPEMDATA") == std::string::npos);

    const nlohmann::json j = nlohmann::json::parse(text);
    CHECK(j["version"] == 42);
    REQUIRE(j["routes"].size() == 2);
    const nlohmann::json& route = j["routes"][0];
    CHECK(route["name"] == "shop/orders/read");
    CHECK(route["hosts"] == nlohmann::json::array({"api.example.com"}));
    CHECK(route["path"]["type"] == "Exact");
    CHECK(route["path"]["value"] == "/orders");
    CHECK(route["methods"] == nlohmann::json::array({"GET", "HEAD"}));
    CHECK(route["headers"][0]["name"] == "X-Canary");
    CHECK(route["headers"][0]["type"] == "Exact");
    CHECK(route["headers"][0]["value"] == "yes");
    CHECK(route["headers"][1]["type"] == "Present");
    CHECK(route["query"][0]["name"] == "v");
    CHECK(route["query"][0]["value"] == "2");
    CHECK(route["backends"][0]["key"] == "shop/orders:8080");
    CHECK(route["backends"][0]["weight"] == 90);
    CHECK(route["backends"][0]["tls"].is_null());
    const nlohmann::json& tls = route["backends"][1]["tls"];
    CHECK(tls["serverName"] == "ledger.shop.svc");
    CHECK(tls["ca"] == "shop/ledger-ca");
    CHECK(tls["clientCertificate"] == "shop/edge-client");
    CHECK(tls["insecureSkipVerify"] == false);
    CHECK(route["backends"][0]["endpoints"][1]["address"] == "10.0.0.2:8080");
    CHECK(route["backends"][0]["endpoints"][1]["weight"] == 3);
    CHECK(route["loadBalancing"] == "LeastRequest");
    CHECK(route["timeouts"]["connectMs"] == 2000);
    CHECK(route["timeouts"]["requestMs"] == 60000);
    CHECK(route["timeouts"]["idleMs"] == 60000);
    CHECK(route["rewrite"]["pathPrefix"] == "/v1/orders");
    CHECK(route["rewrite"]["host"].is_null());
    CHECK(route["requestHeaders"]["set"][0]["name"] == "X-Env");
    CHECK(route["requestHeaders"]["set"][0]["value"] == "prod");
    CHECK(route["requestHeaders"]["remove"][0] == "X-Debug");
    CHECK(route["responseHeaders"]["remove"][0] == "Server");
    CHECK(route["maxRequestBodyBytes"] == 1024);
    CHECK(route["policies"]["auth"]["apiKey"]["consumers"] == 2);
    CHECK(route["policies"]["rateLimit"]["requests"] == 100);
    CHECK(route["policies"]["rateLimit"]["burst"] == 20);
    CHECK(route["policies"]["retries"]["attempts"] == 2);
    CHECK(j["routes"][1]["policies"].empty());
    CHECK(j["routes"][1]["path"]["type"] == "RegularExpression");

    REQUIRE(j["certificates"].size() == 1);
    CHECK(j["certificates"][0]["name"] == "shop/api-tls");
    CHECK(j["certificates"][0]["hosts"] == nlohmann::json::array({"api.example.com"}));
    CHECK(j["certificates"][0]["isDefault"] == true);
    CHECK(j["certificates"][0].size() == 3);
  }

  TEST_CASE("toJson of an empty table is valid JSON with empty lists") {
    auto built = RouteTable::build(RouteTableSpec{}, 3);
    REQUIRE(built);
    const nlohmann::json j = nlohmann::json::parse((*built)->toJson());
    CHECK(j["version"] == 3);
    CHECK(j["routes"].empty());
    CHECK(j["certificates"].empty());
  }

  TEST_CASE("toJson does not throw on names that are not valid UTF-8") {
    auto built = RouteTable::build(specOf({prefix("bad\xff-name", "/")}), 1);
    REQUIRE(built);
    std::string text;
    CHECK_NOTHROW(text = (*built)->toJson());
    nlohmann::json parsed;
    CHECK_NOTHROW(parsed = nlohmann::json::parse(text));
    CHECK(parsed["routes"][0]["path"]["value"] == "/");
  }
}
