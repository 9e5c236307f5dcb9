// Layer-4 routes in the table (RouteSpec::stream): chosen by port and SNI, never by HTTP.
#include <doctest/doctest.h>

#include "proxy/config/route_table.h"
#include "test/proxy/router/fake_request.h"

using namespace portico::proxy;
using namespace portico::proxy::testing;

namespace {

RouteSpec streamRoute(std::string name, uint16_t port, std::vector<std::string> sni = {}) {
  RouteSpec r;
  r.name = std::move(name);
  r.stream = StreamSpec{.port = port, .sniHosts = std::move(sni)};
  return r;
}

RouteTableConstSharedPtr build(std::vector<RouteSpec> routes) {
  RouteTableSpec spec;
  spec.routes = std::move(routes);
  auto table = RouteTable::build(std::move(spec), 1);
  REQUIRE(table.has_value());
  return *table;
}

const char* nameOf(const Route* route) { return route ? route->spec.name.c_str() : "none"; }

}  // namespace

TEST_CASE("a stream route is chosen by port, then by exact and wildcard server name") {
  auto table = build({streamRoute("redis", 6379), streamRoute("alpha", 8443, {"alpha.test"}),
                      streamRoute("beta", 8443, {"*.beta.test"}), streamRoute("rest", 9000, {"x.test"}),
                      streamRoute("rest-any", 9000)});
  CHECK(std::string(nameOf(table->matchStream(6379, ""))) == "redis");
  CHECK(std::string(nameOf(table->matchStream(6379, "anything.test"))) == "redis");
  CHECK(std::string(nameOf(table->matchStream(8443, "alpha.test"))) == "alpha");
  CHECK(std::string(nameOf(table->matchStream(8443, "ALPHA.test"))) == "alpha");
  CHECK(std::string(nameOf(table->matchStream(8443, "a.beta.test"))) == "beta");
  CHECK(table->matchStream(8443, "beta.test") == nullptr);      // "*." needs a label
  CHECK(table->matchStream(8443, "a.b.beta.test") == nullptr);  // one label only
  CHECK(table->matchStream(8443, "") == nullptr);               // no name: terminated by Portico
  CHECK(std::string(nameOf(table->matchStream(9000, "x.test"))) == "rest");
  CHECK(std::string(nameOf(table->matchStream(9000, "y.test"))) == "rest-any");
  CHECK(table->matchStream(7000, "") == nullptr);
  CHECK(table->routesBySni(8443));
  CHECK(table->routesBySni(9000));
  CHECK_FALSE(table->routesBySni(6379));
  CHECK(std::string(nameOf(table->streamRoute("beta"))) == "beta");
  CHECK(table->streamRoute("gone") == nullptr);
}

TEST_CASE("the earliest stream route keeps a port or a name claimed twice") {
  auto table = build({streamRoute("first", 6379), streamRoute("second", 6379), streamRoute("a1", 8443, {"a.test"}),
                      streamRoute("a2", 8443, {"a.test", "b.test"})});
  CHECK(std::string(nameOf(table->matchStream(6379, ""))) == "first");
  CHECK(std::string(nameOf(table->matchStream(8443, "a.test"))) == "a1");
  CHECK(std::string(nameOf(table->matchStream(8443, "b.test"))) == "a2");
}

TEST_CASE("HTTP requests never match a stream route, even one without hosts") {
  RouteSpec http;
  http.name = "web";
  http.hosts = {"a.test"};
  auto table = build({streamRoute("tcp", 6379), http});
  CHECK(table->match(FakeRequest("other.test", "/")) == nullptr);
  CHECK(std::string(nameOf(table->match(FakeRequest("a.test", "/x")))) == "web");
  CHECK(table->streamRoute("web") == nullptr);
}
