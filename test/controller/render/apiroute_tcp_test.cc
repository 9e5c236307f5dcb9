// APIRoute spec.tcp: the layer-4 route it renders, and each way it is refused.
#include <doctest/doctest.h>

#include "controller/render/render.h"
#include "test/controller/test_support.h"

using nlohmann::json;
using namespace portico::controller;
using namespace portico::controller::test;
using namespace std::chrono_literals;
namespace proxy = portico::proxy;

namespace {

RenderResult renderTcp(std::vector<json> objects, bool standalone = true) {
  ObjectSnapshot snapshot;
  snapshot.apiRoutes = std::move(objects);
  RenderOptions options;
  options.standalone = standalone;
  options.httpsPort = 8443;
  options.tcpPorts = {6379, 5432};
  return render(snapshot, options);
}

json tcpSpec(json tcp, json hosts = nullptr) {
  if (!tcp.contains("backends")) tcp["backends"] = {{{"url", "tcp://10.0.0.7:6379"}}};
  json spec = {{"tcp", std::move(tcp)}};
  if (!hosts.is_null()) spec["hosts"] = std::move(hosts);
  return spec;
}

std::string diagnosticsText(const RenderResult& r) {
  std::string out;
  for (const auto& d : r.diagnostics) out += d.field + " " + d.reason + ": " + d.message + "\n";
  return out;
}

// One object that must be refused with `reason` at `field`.
void refused(json spec, const std::string& field, const std::string& reason) {
  auto result = renderTcp({apiRoute("data", "cache", std::move(spec))});
  CHECK_MESSAGE(result.table.routes.empty(), diagnosticsText(result));
  auto at = diagnosticsAt(result, field);
  REQUIRE_MESSAGE(!at.empty(), diagnosticsText(result));
  CHECK(at[0].reason == reason);
}

}  // namespace

TEST_CASE("a plain TCP route: port, backends, balancing, health check, timeouts, limit") {
  auto result = renderTcp({apiRoute("data", "cache",
                                    tcpSpec({{"port", 6379},
                                             {"loadBalancing", {{"policy", "LeastRequest"}}},
                                             {"healthCheck", {{"interval", "2s"}, {"unhealthyThreshold", 2}}},
                                             {"outlierDetection", {{"consecutiveGatewayFailures", 3}}},
                                             {"timeouts", {{"connect", "250ms"}, {"idle", "10m"}}},
                                             {"maxConnections", 100}}))});
  CHECK_MESSAGE(result.diagnostics.empty(), diagnosticsText(result));
  REQUIRE(result.table.routes.size() == 1);
  const proxy::RouteSpec& route = result.table.routes[0];
  CHECK(route.name == "data/cache/tcp");
  REQUIRE(route.stream);
  CHECK(route.stream->port == 6379);
  CHECK(route.stream->sniHosts.empty());
  CHECK(route.stream->maxConnections == 100);
  CHECK(route.stream->idleTimeout == 10min);
  CHECK(route.timeouts.connect == 250ms);
  CHECK(route.hosts.empty());
  CHECK(route.loadBalancing == proxy::LoadBalancingPolicy::LeastRequest);
  REQUIRE(route.healthCheck);
  CHECK(route.healthCheck->connectOnly);
  CHECK(route.healthCheck->interval == 2s);
  REQUIRE(route.outlierDetection);
  CHECK(route.outlierDetection->consecutiveGatewayFailures == 3);
  REQUIRE(route.backends.size() == 1);
  CHECK(route.backends[0].key == "url:tcp://10.0.0.7:6379");
  CHECK_FALSE(route.backends[0].tls);
}

TEST_CASE("TLS passthrough: spec.hosts are the server names, the HTTPS port by default") {
  auto result = renderTcp({apiRoute("data", "pg", tcpSpec({{"tlsPassthrough", true}}, {"DB.example.com", "*.pg.test"}))});
  CHECK_MESSAGE(result.diagnostics.empty(), diagnosticsText(result));
  REQUIRE(result.table.routes.size() == 1);
  const auto& stream = *result.table.routes[0].stream;
  CHECK(stream.port == 8443);
  CHECK(stream.sniHosts == std::vector<std::string>{"db.example.com", "*.pg.test"});
  CHECK(stream.idleTimeout == 1h);
  // Or on a TCP listener.
  result = renderTcp({apiRoute("data", "pg", tcpSpec({{"tlsPassthrough", true}, {"port", 5432}}, {"db.test"}))});
  REQUIRE(result.table.routes.size() == 1);
  CHECK(result.table.routes[0].stream->port == 5432);
}

TEST_CASE("spec.tcp refusals name the field and the reason") {
  refused(tcpSpec({{"port", 7000}}), "spec.tcp.port", "PortNotListened");
  refused(tcpSpec({{"tlsPassthrough", true}, {"port", 8080}}, {"a.test"}), "spec.tcp.port", "PortNotListened");
  refused(tcpSpec(json::object()), "spec.tcp.port", "InvalidField");
  refused(tcpSpec({{"port", 6379}}, {"a.test"}), "spec.hosts", "InvalidField");
  refused(tcpSpec({{"tlsPassthrough", true}}), "spec.hosts", "InvalidField");
  refused(tcpSpec({{"port", 6379}, {"retries", {{"attempts", 2}}}}), "spec.tcp.retries", "UnknownField");
  refused(tcpSpec({{"port", 6379}, {"healthCheck", {{"path", "/healthz"}}}}), "spec.tcp.healthCheck.path",
          "InvalidField");
  refused(tcpSpec({{"port", 6379}, {"outlierDetection", {{"consecutive5xx", 2}}}}),
          "spec.tcp.outlierDetection.consecutive5xx", "InvalidField");
  refused(tcpSpec({{"port", 6379}, {"loadBalancing", {{"policy", "ConsistentHash"}, {"hashOn", "Header:x"}}}}),
          "spec.tcp.loadBalancing.hashOn", "InvalidField");
  refused(tcpSpec({{"port", 6379}, {"timeouts", {{"idle", "10ms"}}}}), "spec.tcp.timeouts.idle", "InvalidDuration");
  refused(tcpSpec({{"port", 6379}, {"backends", {{{"url", "http://10.0.0.7:80"}}}}}), "spec.tcp.backends[0].url",
          "InvalidBackend");
  refused(tcpSpec({{"port", 6379}, {"backends", {{{"url", "tcp://10.0.0.7"}}}}}), "spec.tcp.backends[0].url",
          "InvalidBackend");
  refused(tcpSpec({{"port", 6379},
                   {"backends", {{{"url", "tcp://10.0.0.7:1"}, {"backendTLS", {{"insecureSkipVerify", true}}}}}}}),
          "spec.tcp.backends[0].backendTLS", "InvalidBackend");
  json both = tcpSpec({{"port", 6379}});
  both["rules"] = json::array({rule("r")});
  refused(both, "spec.tcp", "InvalidField");
}

TEST_CASE("an HTTP rule refuses a tcp:// url") {
  auto result = renderTcp({apiRoute("shop", "web", {{"rules", {{{"name", "r"}, {"backends", {{{"url", "tcp://a:1"}}}}}}}})});
  CHECK(result.table.routes.empty());
  CHECK_FALSE(diagnosticsAt(result, "spec.rules[0].backends[0].url").empty());
}

TEST_CASE("two APIRoutes on one port or one port and server name: the older keeps it") {
  auto result = renderTcp({apiRoute("data", "old", tcpSpec({{"port", 6379}}), "2026-01-01T00:00:00Z"),
                           apiRoute("data", "new", tcpSpec({{"port", 6379}}), "2026-02-01T00:00:00Z"),
                           apiRoute("data", "pt-old", tcpSpec({{"tlsPassthrough", true}}, {"a.test", "b.test"}),
                                    "2026-01-01T00:00:00Z"),
                           apiRoute("data", "pt-new", tcpSpec({{"tlsPassthrough", true}}, {"b.test", "c.test"}),
                                    "2026-02-01T00:00:00Z")});
  std::vector<std::string> names;
  for (const auto& r : result.table.routes) names.push_back(r.name);
  CHECK(names == std::vector<std::string>{"data/old/tcp", "data/pt-old/tcp", "data/pt-new/tcp"});
  CHECK(result.table.routes[2].stream->sniHosts == std::vector<std::string>{"c.test"});
  int conflicts = 0;
  for (const auto& d : result.diagnostics) conflicts += d.reason == "Conflict";
  CHECK_MESSAGE(conflicts == 2, diagnosticsText(result));
}
