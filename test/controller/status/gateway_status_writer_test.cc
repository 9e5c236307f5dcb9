// GatewayStatusWriter through StatusWriter::syncOnce with a recording fake API: which objects
// are PATCHed where, with what, and that a pass over unchanged objects (or over a snapshot
// that predates our own write) writes nothing; foreign HTTPRoute parents force a precondition.
#include "controller/status/status_writer.h"

#include <doctest/doctest.h>

#include "test/controller/status/fake_kube_client.h"

namespace portico::controller::test {
namespace {

using json = nlohmann::json;

const std::string kApi = "gateway.networking.k8s.io/v1";

ObjectSnapshot gatewayCluster() {
  ObjectSnapshot s;
  s.gatewayClasses = {{{"apiVersion", kApi}, {"kind", "GatewayClass"},
                       {"metadata", {{"name", "portico"}, {"uid", "u-gc"}, {"resourceVersion", "1"}, {"generation", 1}}},
                       {"spec", {{"controllerName", "portico.dev/gateway-controller"}}}},
                      {{"apiVersion", kApi}, {"kind", "GatewayClass"},
                       {"metadata", {{"name", "theirs"}, {"uid", "u-gc2"}, {"resourceVersion", "1"}}},
                       {"spec", {{"controllerName", "example.com/else"}}}}};
  s.gateways = {{{"apiVersion", kApi}, {"kind", "Gateway"},
                 {"metadata", {{"namespace", "infra"}, {"name", "web"}, {"uid", "u-gw"}, {"resourceVersion", "2"}, {"generation", 1}}},
                 {"spec", {{"gatewayClassName", "portico"},
                           {"listeners", {{{"name", "http"}, {"protocol", "HTTP"}, {"port", 80},
                                           {"allowedRoutes", {{"namespaces", {{"from", "All"}}}}}}}}}}}};
  s.httpRoutes = {{{"apiVersion", kApi}, {"kind", "HTTPRoute"},
                   {"metadata", {{"namespace", "shop"}, {"name", "r"}, {"uid", "u-r"}, {"resourceVersion", "3"}, {"generation", 2}}},
                   {"spec", {{"parentRefs", {{{"group", "gateway.networking.k8s.io"}, {"kind", "Gateway"},
                                               {"namespace", "infra"}, {"name", "web"}}}}}}}};
  return s;
}

StatusInput input(const ObjectSnapshot& s) {
  StatusInput in;
  in.snapshot = StoreSnapshot::fromLists(s);
  in.programmed = true;
  return in;
}

StatusWriterOptions options() {
  StatusWriterOptions o;
  o.publishAddress = "192.0.2.10";
  o.now = [] { return *parseKubeTime("2026-01-01T00:00:00Z"); };
  return o;
}

}  // namespace

TEST_SUITE("status") {

TEST_CASE("gateway status: one PATCH per object of ours to its status subresource, none when nothing changed") {
  FakeKubeClient client;
  StatusWriter writer(client, [] { return true; }, options());
  ObjectSnapshot s = gatewayCluster();
  auto result = writer.syncOnce(input(s));
  CHECK(result.writes == 3);
  std::map<std::string, json> patches;
  for (const auto& r : client.requests("PATCH")) patches[r.path] = r.json();
  REQUIRE(patches.size() == 3);
  const json& cls = patches.at("/apis/gateway.networking.k8s.io/v1/gatewayclasses/portico/status");
  CHECK(cls["status"]["conditions"][0]["type"] == "Accepted");
  const json& gw = patches.at("/apis/gateway.networking.k8s.io/v1/namespaces/infra/gateways/web/status");
  CHECK(gw["status"]["addresses"] == json::array({{{"type", "IPAddress"}, {"value", "192.0.2.10"}}}));
  CHECK(gw["status"]["listeners"][0]["attachedRoutes"] == 1);
  const json& route = patches.at("/apis/gateway.networking.k8s.io/v1/namespaces/shop/httproutes/r/status");
  CHECK(route["status"]["parents"][0]["controllerName"] == "portico.dev/gateway-controller");
  CHECK_FALSE(route.contains("metadata"));  // no precondition without foreign parents

  // The same snapshot again (it predates our writes): nothing written.
  CHECK(writer.syncOnce(input(s)).writes == 0);
  // The objects as they come back with our status: still nothing.
  s.gatewayClasses[0]["status"] = cls["status"];
  s.gatewayClasses[0]["metadata"]["resourceVersion"] = "11";
  s.gateways[0]["status"] = gw["status"];
  s.gateways[0]["metadata"]["resourceVersion"] = "12";
  s.httpRoutes[0]["status"] = route["status"];
  s.httpRoutes[0]["metadata"]["resourceVersion"] = "13";
  CHECK(writer.syncOnce(input(s)).writes == 0);
  // A new generation of the route: its status (observedGeneration) is written again, alone.
  s.httpRoutes[0]["metadata"]["generation"] = 3;
  s.httpRoutes[0]["metadata"]["resourceVersion"] = "14";
  const size_t before = client.requests("PATCH").size();
  CHECK(writer.syncOnce(input(s)).writes == 1);
  auto after = client.requests("PATCH");
  REQUIRE(after.size() == before + 1);
  CHECK(after.back().path == "/apis/gateway.networking.k8s.io/v1/namespaces/shop/httproutes/r/status");
  CHECK(after.back().json()["status"]["parents"][0]["conditions"][0]["observedGeneration"] == 3);
}

TEST_CASE("gateway status: another controller's parent entry is kept, under a resourceVersion precondition") {
  FakeKubeClient client;
  StatusWriter writer(client, [] { return true; }, options());
  ObjectSnapshot s = gatewayCluster();
  const json foreign = {{"parentRef", {{"name", "x"}}}, {"controllerName", "example.com/else"}, {"conditions", json::array()}};
  s.httpRoutes[0]["status"] = {{"parents", {foreign}}};
  client.script("PATCH", "/apis/gateway.networking.k8s.io/v1/namespaces/shop/httproutes/r/status", 409);
  auto result = writer.syncOnce(input(s));
  CHECK(result.retryable == 1);  // the 409 is retried with the next pass
  json patch;
  for (const auto& r : client.requests("PATCH")) {
    if (r.path.find("/httproutes/") != std::string::npos) patch = r.json();
  }
  CHECK(patch["metadata"]["resourceVersion"] == "3");
  CHECK(patch["status"]["parents"][0] == foreign);
  CHECK(patch["status"]["parents"].size() == 2);
}

TEST_CASE("gateway status: nothing is written by a non-leader, nor without GatewayClasses") {
  FakeKubeClient client;
  StatusWriter follower(client, [] { return false; }, options());
  CHECK(follower.syncOnce(input(gatewayCluster())).notLeader);
  ObjectSnapshot none = gatewayCluster();
  none.gatewayClasses.clear();
  StatusWriter leader(client, [] { return true; }, options());
  CHECK(leader.syncOnce(input(none)).writes == 0);
  CHECK(client.requests("PATCH").empty());
}

}  // TEST_SUITE

}  // namespace portico::controller::test
