// APIRoute translation: one test per field, then the diagnostics and their isolation.
#include <doctest/doctest.h>

#include "controller/render/render.h"
#include "test/controller/test_support.h"

using nlohmann::json;
using namespace portico::controller;
using namespace portico::controller::test;
using namespace std::chrono_literals;
namespace proxy = portico::proxy;

namespace {

std::string toJsonString(const RenderResult& r) {
  json j = json::array();
  for (const auto& d : r.diagnostics) j.push_back({d.field, d.reason, d.message});
  return j.dump();
}

// Renders one APIRoute "shop/orders" with the given rules (and spec extras) and requires
// that it rendered without diagnostics.
proxy::RouteTableSpec renderClean(json rules, json specExtra = json::object()) {
  json spec = {{"rules", std::move(rules)}};
  for (auto it = specExtra.begin(); it != specExtra.end(); ++it) spec[it.key()] = it.value();
  auto result = renderRoutes({apiRoute("shop", "orders", spec)});
  for (const auto& d : result.diagnostics) FAIL_CHECK(d.message);
  return result.table;
}

proxy::RouteSpec renderOneRule(json extra) {
  auto table = renderClean(json::array({rule("r", std::move(extra))}));
  REQUIRE(table.routes.size() == 1);
  return table.routes[0];
}

// Renders one rule that must be rejected; returns the diagnostics.
RenderResult renderRejected(json extra, const std::string& field, const std::string& reason) {
  auto result = renderRoutes({apiRoute("shop", "orders", {{"rules", {rule("r", std::move(extra))}}})});
  CHECK(result.table.routes.empty());
  auto at = diagnosticsAt(result, field);
  REQUIRE_MESSAGE(at.size() == 1, "diagnostics: " << toJsonString(result));
  CHECK(at[0].reason == reason);
  CHECK(at[0].condition == "Accepted");
  CHECK(at[0].object.toString() == "APIRoute shop/orders");
  CHECK(at[0].message.rfind(field + ": ", 0) == 0);
  return result;
}

}  // namespace

TEST_SUITE("render") {

TEST_CASE("a minimal rule becomes a Prefix / route named namespace/name/rule") {
  auto r = renderOneRule({});
  CHECK(r.name == "shop/orders/r");
  CHECK(r.hosts.empty());
  CHECK(r.pathType == proxy::PathMatchType::Prefix);
  CHECK(r.path == "/");
  CHECK(r.methods.empty());
  CHECK(r.loadBalancing == proxy::LoadBalancingPolicy::RoundRobin);
  CHECK(r.timeouts.connect == 5000ms);
  CHECK(r.maxRequestBodyBytes == 0);
  CHECK_FALSE(r.rewritePathPrefix.has_value());
  REQUIRE(r.backends.size() == 1);
  CHECK(r.backends[0].key == "url:http://127.0.0.1:9001");
  CHECK(r.backends[0].weight == 1);
  CHECK_FALSE(r.backends[0].tls);
  REQUIRE(r.backends[0].endpoints.size() == 1);
  CHECK(r.backends[0].endpoints[0] == proxy::EndpointSpec{"127.0.0.1", 9001, 1});
}

TEST_CASE("hosts are lower-cased, de-duplicated and copied onto every rule") {
  auto table = renderClean({rule("a"), rule("b")},
                           {{"hosts", {"API.Example.com", "*.example.org", "api.example.com"}}});
  REQUIRE(table.routes.size() == 2);
  for (const auto& r : table.routes) {
    CHECK(r.hosts == std::vector<std::string>{"api.example.com", "*.example.org"});
  }
}

TEST_CASE("path types Exact, Prefix and RegularExpression are translated") {
  auto exact = renderOneRule({{"match", {{"path", {{"type", "Exact"}, {"value", "/healthz"}}}}}});
  CHECK(exact.pathType == proxy::PathMatchType::Exact);
  CHECK(exact.path == "/healthz");
  auto prefix = renderOneRule({{"match", {{"path", {{"value", "/orders"}}}}}});
  CHECK(prefix.pathType == proxy::PathMatchType::Prefix);
  CHECK(prefix.path == "/orders");
  auto regex = renderOneRule(
      {{"match", {{"path", {{"type", "RegularExpression"}, {"value", "/orders/[0-9]+"}}}}}});
  CHECK(regex.pathType == proxy::PathMatchType::RegularExpression);
  CHECK(regex.path == "/orders/[0-9]+");
}

TEST_CASE("methods are upper-cased and de-duplicated") {
  auto r = renderOneRule({{"match", {{"methods", {"GET", "head", "GET"}}}}});
  CHECK(r.methods == std::vector<std::string>{"GET", "HEAD"});
}

TEST_CASE("header and query matches are translated with their types") {
  auto r = renderOneRule({{"match",
                           {{"headers",
                             {{{"name", "X-Canary"}, {"value", "yes"}},
                              {{"name", "X-Version"}, {"type", "RegularExpression"}, {"value", "v[12]"}},
                              {{"name", "X-Debug"}, {"type", "Present"}}}},
                            {"query", {{{"name", "v"}, {"value", "2"}}}}}}});
  REQUIRE(r.headers.size() == 3);
  CHECK(r.headers[0].name == "X-Canary");
  CHECK(r.headers[0].type == proxy::HeaderMatchType::Exact);
  CHECK(r.headers[0].value == "yes");
  CHECK(r.headers[1].type == proxy::HeaderMatchType::RegularExpression);
  CHECK(r.headers[1].value == "v[12]");
  CHECK(r.headers[2].type == proxy::HeaderMatchType::Present);
  REQUIRE(r.query.size() == 1);
  CHECK(r.query[0].name == "v");
  CHECK(r.query[0].value == "2");
}

TEST_CASE("url backends keep their weight; https sets tls and default ports apply") {
  auto r = renderOneRule({{"backends",
                           {{{"url", "http://127.0.0.1:9001"}, {"weight", 90}},
                            {{"url", "https://Backend.example.com"}},
                            {{"url", "http://[::1]:8080/"}}}}});
  REQUIRE(r.backends.size() == 3);
  CHECK(r.backends[0].weight == 90);
  CHECK(r.backends[1].key == "url:https://backend.example.com:443");
  CHECK(r.backends[1].tls);
  CHECK(r.backends[1].endpoints[0] == proxy::EndpointSpec{"backend.example.com", 443, 1});
  CHECK(r.backends[2].key == "url:http://[::1]:8080");
  CHECK(r.backends[2].endpoints[0] == proxy::EndpointSpec{"::1", 8080, 1});
}

TEST_CASE("load balancing policies are translated") {
  CHECK(renderOneRule({{"loadBalancing", {{"policy", "LeastRequest"}}}}).loadBalancing ==
        proxy::LoadBalancingPolicy::LeastRequest);
  CHECK(renderOneRule({{"loadBalancing", {{"policy", "Random"}}}}).loadBalancing ==
        proxy::LoadBalancingPolicy::Random);
  CHECK(renderOneRule({{"loadBalancing", {{"policy", "ConsistentHash"}}}}).loadBalancing ==
        proxy::LoadBalancingPolicy::ConsistentHash);
}

TEST_CASE("timeouts are Go durations in milliseconds; absent ones keep the defaults") {
  auto r = renderOneRule({{"timeouts", {{"connect", "2s"}, {"request", "1m30s"}}}});
  CHECK(r.timeouts.connect == 2000ms);
  CHECK(r.timeouts.request == 90000ms);
  CHECK(r.timeouts.idle == proxy::Timeouts{}.idle);
  CHECK(renderOneRule({{"timeouts", {{"idle", "500ms"}}}}).timeouts.idle == 500ms);
}

TEST_CASE("rewrite sets the path prefix and the host") {
  auto r = renderOneRule({{"match", {{"path", {{"value", "/orders"}}}}},
                          {"rewrite", {{"pathPrefix", "/v1/orders"}, {"host", "Orders.Internal:8080"}}}});
  CHECK(r.rewritePathPrefix == std::optional<std::string>("/v1/orders"));
  CHECK(r.rewriteHost == std::optional<std::string>("orders.internal:8080"));
}

TEST_CASE("request and response header edits keep set, add and remove") {
  auto r = renderOneRule({{"requestHeaders",
                           {{"set", {{"X-Env", "prod"}, {"A-First", "1"}}},
                            {"add", {{"X-Trace", "on"}}},
                            {"remove", {"X-Debug"}}}},
                          {"responseHeaders", {{"remove", {"Server"}}}}});
  using Pairs = std::vector<std::pair<std::string, std::string>>;
  CHECK(r.requestHeaders.set == Pairs{{"A-First", "1"}, {"X-Env", "prod"}});  // key order
  CHECK(r.requestHeaders.add == Pairs{{"X-Trace", "on"}});
  CHECK(r.requestHeaders.remove == std::vector<std::string>{"X-Debug"});
  CHECK(r.responseHeaders.set.empty());
  CHECK(r.responseHeaders.remove == std::vector<std::string>{"Server"});
}

TEST_CASE("limits.maxRequestBodyBytes is copied") {
  CHECK(renderOneRule({{"limits", {{"maxRequestBodyBytes", 1048576}}}}).maxRequestBodyBytes == 1048576);
}

TEST_CASE("an APIRoute of another ingress class is ignored without a diagnostic") {
  auto result = renderRoutes({apiRoute("shop", "other", {{"ingressClassName", "nginx"}, {"rules", {rule("a")}}}),
                              apiRoute("shop", "mine", {{"ingressClassName", "portico"}, {"rules", {rule("a")}}})});
  CHECK(result.diagnostics.empty());
  REQUIRE(result.table.routes.size() == 1);
  CHECK(result.table.routes[0].name == "shop/mine/a");
}

// ---- diagnostics: every reason, with its field path --------------------------------

TEST_CASE("an invalid regular expression is InvalidRegex on match.path.value") {
  auto result = renderRejected({{"match", {{"path", {{"type", "RegularExpression"}, {"value", "/(a"}}}}}},
                               "spec.rules[0].match.path.value", "InvalidRegex");
  CHECK(diagnosticsAt(result, "spec.rules[0].match.path.value")[0].message.find("invalid RE2: missing )") !=
        std::string::npos);
}

TEST_CASE("an invalid header regular expression is InvalidRegex on its value") {
  renderRejected({{"match", {{"headers", {{{"name", "X"}, {"type", "RegularExpression"}, {"value", "[z-a]"}}}}}}},
                 "spec.rules[0].match.headers[0].value", "InvalidRegex");
}

TEST_CASE("an Exact or Prefix path must start with a slash: InvalidPath") {
  renderRejected({{"match", {{"path", {{"type", "Exact"}, {"value", "orders"}}}}}},
                 "spec.rules[0].match.path.value", "InvalidPath");
  renderRejected({{"match", {{"path", {{"value", "/a b"}}}}}}, "spec.rules[0].match.path.value",
                 "InvalidPath");
}

TEST_CASE("an unknown path type is InvalidField on match.path.type") {
  renderRejected({{"match", {{"path", {{"type", "Glob"}, {"value", "/a"}}}}}},
                 "spec.rules[0].match.path.type", "InvalidField");
}

TEST_CASE("a malformed url backend is InvalidBackend on its url") {
  for (const char* url : {"ftp://a", "http://a/path", "http://a:0", "http://a:99999", "http://us@a",
                          "http://bad_host", "http://a?x=1", "http://"}) {
    CAPTURE(url);
    renderRejected({{"backends", {{{"url", url}}}}}, "spec.rules[0].backends[0].url", "InvalidBackend");
  }
}

TEST_CASE("a backend with both url and service, or neither, is InvalidBackend") {
  renderRejected({{"backends", {{{"url", "http://a"}, {"service", "s"}, {"port", 80}}}}},
                 "spec.rules[0].backends[0]", "InvalidBackend");
  renderRejected({{"backends", {{{"weight", 1}}}}}, "spec.rules[0].backends[0]", "InvalidBackend");
}

TEST_CASE("a service backend needs a valid port") {
  renderRejected({{"backends", {{{"service", "orders"}}}}}, "spec.rules[0].backends[0].port", "InvalidBackend");
  renderRejected({{"backends", {{{"service", "orders"}, {"port", 0}}}}}, "spec.rules[0].backends[0].port",
                 "InvalidBackend");
  renderRejected({{"backends", {{{"service", "orders"}, {"port", "8080"}}}}},
                 "spec.rules[0].backends[0].port", "InvalidBackend");
}

TEST_CASE("an empty backend list is InvalidField on backends") {
  renderRejected({{"backends", json::array()}}, "spec.rules[0].backends", "InvalidField");
}

TEST_CASE("a weight out of range is InvalidField on weight") {
  renderRejected({{"backends", {{{"url", "http://a"}, {"weight", -1}}}}}, "spec.rules[0].backends[0].weight",
                 "InvalidField");
}

TEST_CASE("a bad duration is InvalidDuration on its timeout field") {
  renderRejected({{"timeouts", {{"connect", "2"}}}}, "spec.rules[0].timeouts.connect", "InvalidDuration");
  renderRejected({{"timeouts", {{"request", "-1s"}}}}, "spec.rules[0].timeouts.request", "InvalidDuration");
  renderRejected({{"timeouts", {{"idle", 30}}}}, "spec.rules[0].timeouts.idle", "InvalidField");
}

TEST_CASE("security policies written as null or empty reject the rule so it never serves unprotected") {
  for (const char* feature : {"auth", "rateLimit", "ipRules"}) {
    CAPTURE(feature);
    renderRejected({{feature, nullptr}}, std::string("spec.rules[0].") + feature, "InvalidField");
    renderRejected({{feature, json::object()}}, std::string("spec.rules[0].") + feature +
                   (std::string(feature) == "rateLimit" ? ".requests" : ""), "InvalidField");
  }
  renderRejected({{"auth", {{"x", 1}}}}, "spec.rules[0].auth.x", "UnknownField");
}

TEST_CASE("an unknown field in a rule is UnknownField, so a typo never drops a policy silently") {
  renderRejected({{"authh", {{"apiKey", {}}}}}, "spec.rules[0].authh", "UnknownField");
  renderRejected({{"match", {{"pth", {}}}}}, "spec.rules[0].match.pth", "UnknownField");
}

TEST_CASE("rule names are required, DNS labels, and unique in the object") {
  auto missing = renderRoutes({apiRoute("shop", "orders", {{"rules", {{{"backends", {{{"url", "http://a"}}}}}}}})});
  REQUIRE(diagnosticsAt(missing, "spec.rules[0].name").size() == 1);
  CHECK(missing.table.routes.empty());
  renderRejected({{"name", "Read_All"}}, "spec.rules[0].name", "InvalidField");

  auto dup = renderRoutes({apiRoute("shop", "orders", {{"rules", {rule("read"), rule("read")}}})});
  auto at = diagnosticsAt(dup, "spec.rules[1].name");
  REQUIRE(at.size() == 1);
  CHECK(at[0].reason == "DuplicateRuleName");
  REQUIRE(dup.table.routes.size() == 1);  // the first keeps its name
  CHECK(dup.table.routes[0].name == "shop/orders/read");
}

TEST_CASE("header edits of names the proxy owns are rejected") {
  renderRejected({{"requestHeaders", {{"set", {{"Content-Length", "1"}}}}}},
                 "spec.rules[0].requestHeaders.set.Content-Length", "InvalidField");
  renderRejected({{"responseHeaders", {{"remove", {"Transfer-Encoding"}}}}},
                 "spec.rules[0].responseHeaders.remove[0]", "InvalidField");
  renderRejected({{"requestHeaders", {{"add", {{"X-A", "a\r\nInjected: 1"}}}}}},
                 "spec.rules[0].requestHeaders.add.X-A", "InvalidField");
}

TEST_CASE("a pathPrefix rewrite on a regular expression path is rejected") {
  renderRejected({{"match", {{"path", {{"type", "RegularExpression"}, {"value", "/a.*"}}}}},
                  {"rewrite", {{"pathPrefix", "/b"}}}},
                 "spec.rules[0].rewrite.pathPrefix", "InvalidField");
}

TEST_CASE("a wrong type names the field and both types") {
  auto result = renderRejected({{"match", {{"methods", "GET"}}}}, "spec.rules[0].match.methods", "InvalidField");
  CHECK(diagnosticsAt(result, "spec.rules[0].match.methods")[0].message ==
        "spec.rules[0].match.methods: must be a list, not string");
}

TEST_CASE("an invalid host rejects the whole object with InvalidHost") {
  for (const char* host : {"*", "a.*.com", "-a.com", "a..com", "api.example.com:8080", "**.a.com"}) {
    CAPTURE(host);
    auto result = renderRoutes({apiRoute("shop", "orders", {{"hosts", {"ok.example.com", host}}, {"rules", {rule("a")}}})});
    auto at = diagnosticsAt(result, "spec.hosts[1]");
    REQUIRE(at.size() == 1);
    CHECK(at[0].reason == "InvalidHost");
    CHECK(result.table.routes.empty());
  }
}

TEST_CASE("an unknown spec field or a missing rules list rejects the object") {
  auto unknown = renderRoutes({apiRoute("shop", "orders", {{"auth", {}}, {"rules", {rule("a")}}})});
  REQUIRE(diagnosticsAt(unknown, "spec.auth").size() == 1);
  CHECK(diagnosticsAt(unknown, "spec.auth")[0].reason == "UnknownField");
  CHECK(unknown.table.routes.empty());

  auto noRules = renderRoutes({apiRoute("shop", "orders", {{"hosts", {"a.com"}}})});
  REQUIRE(diagnosticsAt(noRules, "spec.rules").size() == 1);
  auto emptyRules = renderRoutes({apiRoute("shop", "orders", {{"rules", json::array()}})});
  REQUIRE(diagnosticsAt(emptyRules, "spec.rules").size() == 1);
}

TEST_CASE("one bad rule does not stop the other rules or the other objects") {
  auto result = renderRoutes(
      {apiRoute("shop", "orders",
                {{"rules",
                  {rule("good-1"),
                   rule("bad", {{"match", {{"path", {{"type", "RegularExpression"}, {"value", "(("}}}}}}),
                   rule("good-2")}}}),
       apiRoute("shop", "broken", {{"hosts", {"bad host"}}, {"rules", {rule("a")}}}),
       apiRoute("shop", "users", {{"rules", {rule("all")}}})});
  std::vector<std::string> names;
  for (const auto& r : result.table.routes) names.push_back(r.name);
  CHECK(names == std::vector<std::string>{"shop/orders/good-1", "shop/orders/good-2", "shop/users/all"});
  REQUIRE(result.diagnostics.size() == 2);
  CHECK(result.diagnostics[0].object.toString() == "APIRoute shop/broken");
  CHECK(result.diagnostics[1].field == "spec.rules[1].match.path.value");
}

TEST_CASE("all problems of one rule are reported, not only the first") {
  auto result = renderRoutes({apiRoute(
      "shop", "orders",
      {{"rules", {rule("r", {{"timeouts", {{"connect", "x"}}}, {"match", {{"methods", {"G ET"}}}}, {"auth", json::object()}})}}})});
  CHECK(diagnosticsAt(result, "spec.rules[0].timeouts.connect").size() == 1);
  CHECK(diagnosticsAt(result, "spec.rules[0].match.methods[0]").size() == 1);
  CHECK(diagnosticsAt(result, "spec.rules[0].auth").size() == 1);
}

TEST_CASE("two APIRoutes with the same namespace and name: the later one is rejected") {
  auto result = renderRoutes({apiRoute("shop", "orders", {{"rules", {rule("a")}}}, "2024-01-01T00:00:00Z"),
                              apiRoute("shop", "orders", {{"rules", {rule("b")}}}, "2024-01-02T00:00:00Z")});
  REQUIRE(result.table.routes.size() == 1);
  CHECK(result.table.routes[0].name == "shop/orders/a");
  REQUIRE(result.diagnostics.size() == 1);
  CHECK(result.diagnostics[0].reason == "DuplicateObject");
}

}  // TEST_SUITE
