// Service backends: resolution through Services and EndpointSlices, and what happens when
// a reference cannot be resolved.
#include <doctest/doctest.h>

#include "controller/render/render.h"
#include "test/controller/test_support.h"

using nlohmann::json;
using namespace portico::controller;
using namespace portico::controller::test;
namespace proxy = portico::proxy;

namespace {

json service(const std::string& ns, const std::string& name, json ports, const std::string& type = "ClusterIP") {
  return {{"apiVersion", "v1"},
          {"kind", "Service"},
          {"metadata", {{"namespace", ns}, {"name", name}}},
          {"spec", {{"type", type}, {"ports", std::move(ports)}}}};
}

json endpoint(json addresses, json conditions = json::object()) {
  return {{"addresses", std::move(addresses)}, {"conditions", std::move(conditions)}};
}

// The cluster used by most tests: shop/orders has ports http 8080 -> 9000 and admin 9090,
// two slices with ready, unready, terminating and condition-less endpoints.
ObjectSnapshot cluster() {
  ObjectSnapshot s;
  s.services.push_back(service("shop", "orders",
                               {{{"name", "http"}, {"port", 8080}, {"targetPort", 9000}, {"protocol", "TCP"}},
                                {{"name", "admin"}, {"port", 9090}, {"targetPort", "admin"}}}));
  s.endpointSlices.push_back(slice("shop", "orders-b", "orders",
                                   {{{"name", "http"}, {"port", 9000}}, {{"name", "admin"}, {"port", 9091}}},
                                   {endpoint({"10.0.0.3"}, {{"ready", true}}),
                                    endpoint({"10.0.0.4"}, {{"ready", false}}),
                                    endpoint({"10.0.0.5"}, {{"ready", true}, {"terminating", true}})}));
  s.endpointSlices.push_back(slice("shop", "orders-a", "orders", {{{"name", "http"}, {"port", 9000}}},
                                   {endpoint({"10.0.0.2", "10.0.0.1"}), endpoint({"10.0.0.3"})}));
  // Same service name in another namespace, and a slice of another service: both ignored.
  s.endpointSlices.push_back(slice("other", "orders-x", "orders", {{{"name", "http"}, {"port", 9000}}},
                                   {endpoint({"10.9.9.9"})}));
  s.endpointSlices.push_back(slice("shop", "users-a", "users", {{{"name", "http"}, {"port", 9000}}},
                                   {endpoint({"10.8.8.8"})}));
  return s;
}

RenderResult renderBackends(json backends, bool standalone = false) {
  return renderRoutes({apiRoute("shop", "api", {{"rules", {rule("r", {{"backends", std::move(backends)}})}}})},
                      standalone, cluster());
}

}  // namespace

TEST_SUITE("render") {

TEST_CASE("a service port by number resolves to ready endpoints of every slice, sorted and unique") {
  auto result = renderBackends({{{"service", "orders"}, {"port", 8080}, {"weight", 3}}});
  CHECK(result.diagnostics.empty());
  REQUIRE(result.table.routes.size() == 1);
  REQUIRE(result.table.routes[0].backends.size() == 1);
  const auto& b = result.table.routes[0].backends[0];
  CHECK(b.key == "shop/orders:8080");
  CHECK(b.weight == 3);
  CHECK_FALSE(b.tls);
  CHECK(b.endpoints == std::vector<proxy::EndpointSpec>{
                           {"10.0.0.1", 9000, 1}, {"10.0.0.2", 9000, 1}, {"10.0.0.3", 9000, 1}});
}

TEST_CASE("a service port by name resolves through the slice port of the same name") {
  auto result = renderBackends({{{"service", "orders"}, {"port", "admin"}}});
  CHECK(result.diagnostics.empty());
  const auto& b = result.table.routes.at(0).backends.at(0);
  CHECK(b.key == "shop/orders:9090");  // named by its number, however the route named it
  CHECK(b.endpoints == std::vector<proxy::EndpointSpec>{{"10.0.0.3", 9091, 1}});
}

TEST_CASE("a missing Service is ResolvedRefs BackendNotFound and the rule keeps its other backends") {
  auto result = renderBackends({{{"service", "nope"}, {"port", 80}}, {{"url", "http://127.0.0.1:9001"}}});
  REQUIRE(result.diagnostics.size() == 1);
  const auto& d = result.diagnostics[0];
  CHECK(d.field == "spec.rules[0].backends[0].service");
  CHECK(d.condition == "ResolvedRefs");
  CHECK(d.reason == "BackendNotFound");
  CHECK(d.message == "spec.rules[0].backends[0].service: service \"shop/nope\" not found");
  REQUIRE(result.table.routes.size() == 1);
  REQUIRE(result.table.routes[0].backends.size() == 1);
  CHECK(result.table.routes[0].backends[0].key == "url:http://127.0.0.1:9001");
}

TEST_CASE("a route whose only backend is missing renders with no backends (503)") {
  auto result = renderBackends({{{"service", "nope"}, {"port", 80}}});
  REQUIRE(result.diagnostics.size() == 1);
  REQUIRE(result.table.routes.size() == 1);
  CHECK(result.table.routes[0].backends.empty());
}

TEST_CASE("a missing Service port is BackendNotFound on the port field") {
  auto byNumber = renderBackends({{{"service", "orders"}, {"port", 81}}});
  REQUIRE(byNumber.diagnostics.size() == 1);
  CHECK(byNumber.diagnostics[0].field == "spec.rules[0].backends[0].port");
  CHECK(byNumber.diagnostics[0].reason == "BackendNotFound");
  CHECK(byNumber.diagnostics[0].message ==
        "spec.rules[0].backends[0].port: service \"shop/orders\" has no TCP port 81");
  auto byName = renderBackends({{{"service", "orders"}, {"port", "grpc"}}});
  REQUIRE(byName.diagnostics.size() == 1);
  CHECK(byName.diagnostics[0].message ==
        "spec.rules[0].backends[0].port: service \"shop/orders\" has no TCP port named \"grpc\"");
}

TEST_CASE("service backends in standalone mode are BackendNotFound: they need a cluster") {
  auto result = renderBackends({{{"service", "orders"}, {"port", 8080}}}, /*standalone=*/true);
  REQUIRE(result.diagnostics.size() == 1);
  CHECK(result.diagnostics[0].reason == "BackendNotFound");
  CHECK(result.diagnostics[0].condition == "ResolvedRefs");
  CHECK(result.diagnostics[0].message.find("service backends need a cluster") != std::string::npos);
  CHECK(result.table.routes.at(0).backends.empty());
}

TEST_CASE("a Service with no slices gives a backend with no endpoints and no diagnostic") {
  auto snapshot = cluster();
  snapshot.services.push_back(service("shop", "idle", {{{"port", 80}}}));
  auto result = renderRoutes(
      {apiRoute("shop", "api", {{"rules", {rule("r", {{"backends", {{{"service", "idle"}, {"port", 80}}}}})}}})},
      false, snapshot);
  CHECK(result.diagnostics.empty());
  const auto& b = result.table.routes.at(0).backends.at(0);
  CHECK(b.key == "shop/idle:80");
  CHECK(b.endpoints.empty());
}

TEST_CASE("an ExternalName Service is not supported") {
  auto snapshot = cluster();
  snapshot.services.push_back(service("shop", "ext", {{{"port", 80}}}, "ExternalName"));
  auto result = renderRoutes(
      {apiRoute("shop", "api", {{"rules", {rule("r", {{"backends", {{{"service", "ext"}, {"port", 80}}}}})}}})},
      false, snapshot);
  REQUIRE(result.diagnostics.size() == 1);
  CHECK(result.diagnostics[0].reason == "BackendNotFound");
  CHECK(result.diagnostics[0].message.find("ExternalName") != std::string::npos);
}

TEST_CASE("an unnamed single Service port matches the unnamed slice port") {
  ObjectSnapshot s;
  s.services.push_back(service("shop", "web", {{{"port", 80}, {"targetPort", 8080}}}));
  s.endpointSlices.push_back(slice("shop", "web-1", "web", {{{"port", 8080}}}, {endpoint({"10.1.0.1"})}));
  auto result = renderRoutes(
      {apiRoute("shop", "api", {{"rules", {rule("r", {{"backends", {{{"service", "web"}, {"port", 80}}}}})}}})},
      false, s);
  CHECK(result.diagnostics.empty());
  CHECK(result.table.routes.at(0).backends.at(0).endpoints ==
        std::vector<proxy::EndpointSpec>{{"10.1.0.1", 8080, 1}});
}

}  // TEST_SUITE
