// Ordering and determinism: the input order never changes the output.
#include <algorithm>
#include <random>

#include <doctest/doctest.h>

#include "controller/render/render.h"
#include "controller/render/spec_json.h"
#include "test/controller/test_support.h"

using nlohmann::json;
using namespace portico::controller;
using namespace portico::controller::test;

namespace {

std::vector<std::string> routeNames(const RenderResult& r) {
  std::vector<std::string> names;
  for (const auto& route : r.table.routes) names.push_back(route.name);
  return names;
}

// A snapshot with several objects, TLS, services, slices and some diagnostics.
ObjectSnapshot mixedSnapshot() {
  ObjectSnapshot s;
  s.apiRoutes = {
      apiRoute("b", "late", {{"rules", {rule("x"), rule("y")}}}, "2024-03-01T00:00:00Z"),
      apiRoute("a", "early", {{"hosts", {"a.example.com"}}, {"tls", {{"secretName", "a-tls"}, {"redirectHTTP", true}}},
                              {"rules", {rule("one"), rule("two", {{"auth", json::object()}})}}},
               "2024-01-01T00:00:00Z"),
      apiRoute("b", "same-time", {{"rules", {rule("s", {{"backends", {{{"service", "svc"}, {"port", 80}}, {{"service", "gone"}, {"port", 80}}}}})}}},
               "2024-02-01T00:00:00Z"),
      apiRoute("a", "same-time", {{"hosts", {"b.example.com"}}, {"tls", {{"secretName", "missing"}}}, {"rules", {rule("s")}}},
               "2024-02-01T00:00:00Z"),
      apiRoute("c", "no-timestamp", {{"rules", {rule("n")}}}),
  };
  s.secrets = {tlsSecret("a", "a-tls", certA(), keyA())};
  s.services = {{{"metadata", {{"namespace", "b"}, {"name", "svc"}}}, {"spec", {{"ports", {{{"port", 80}}}}}}}};
  for (auto [name, address] : {std::pair{"svc-2", "10.0.0.9"}, std::pair{"svc-1", "10.0.0.1"}}) {
    json slice = {{"metadata", {{"namespace", "b"}, {"name", name}, {"labels", {{"kubernetes.io/service-name", "svc"}}}}},
                  {"ports", {{{"port", 8080}}}}};
    slice["endpoints"] = json::array({{{"addresses", {address}}}});
    s.endpointSlices.push_back(slice);
  }
  return s;
}

std::string dump(const RenderResult& r) {
  return toJson(r.table, /*includePrivateKeys=*/true).dump() + toJson(r.diagnostics).dump();
}

}  // namespace

TEST_SUITE("render") {

TEST_CASE("routes are ordered by creationTimestamp, then namespace/name, then rule order") {
  auto result = render(mixedSnapshot(), RenderOptions{});
  CHECK(routeNames(result) == std::vector<std::string>{
                                  "c/no-timestamp/n",  // missing timestamp sorts first
                                  "a/early/one",       // a/early/two asks for auth: rejected
                                  "a/same-time/s",     // same time: namespace a before b
                                  "b/same-time/s",
                                  "b/late/x",
                                  "b/late/y",
                              });
}

TEST_CASE("shuffled input renders byte-identical output, twice") {
  auto base = mixedSnapshot();
  const std::string expected = dump(render(base, RenderOptions{}));
  std::mt19937 rng(12345);
  for (int i = 0; i < 20; ++i) {
    auto shuffled = base;
    std::shuffle(shuffled.apiRoutes.begin(), shuffled.apiRoutes.end(), rng);
    std::shuffle(shuffled.endpointSlices.begin(), shuffled.endpointSlices.end(), rng);
    std::shuffle(shuffled.secrets.begin(), shuffled.secrets.end(), rng);
    CHECK(dump(render(shuffled, RenderOptions{})) == expected);
    CHECK(dump(render(shuffled, RenderOptions{})) == expected);
  }
}

TEST_CASE("diagnostics come in object order, so they are deterministic too") {
  auto result = render(mixedSnapshot(), RenderOptions{});
  std::vector<std::string> got;
  for (const auto& d : result.diagnostics) got.push_back(d.object.toString() + " " + d.field + " " + d.reason);
  CHECK(got == std::vector<std::string>{
                   "APIRoute a/early spec.rules[1].auth InvalidField",
                   "APIRoute a/same-time spec.tls.secretName SecretNotFound",
                   "APIRoute b/same-time spec.rules[0].backends[1].service BackendNotFound",
               });
}

TEST_CASE("endpoints from several slices are merged in address order whatever the slice order") {
  auto result = render(mixedSnapshot(), RenderOptions{});
  const portico::proxy::RouteSpec* route = nullptr;
  for (const auto& r : result.table.routes) {
    if (r.name == "b/same-time/s") route = &r;
  }
  REQUIRE(route != nullptr);
  REQUIRE(route->backends.size() == 1);
  CHECK(route->backends[0].endpoints ==
        std::vector<portico::proxy::EndpointSpec>{{"10.0.0.1", 8080, 1}, {"10.0.0.9", 8080, 1}});
}

}  // TEST_SUITE
