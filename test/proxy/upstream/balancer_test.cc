#include <doctest/doctest.h>

#include <algorithm>
#include <map>

#include "proxy/upstream/balancer.h"

using namespace portico::proxy;

namespace {
BackendSpec backend(std::string key, uint32_t weight, std::vector<std::string> hosts) {
  BackendSpec b;
  b.key = std::move(key);
  b.weight = weight;
  for (auto& h : hosts) b.endpoints.push_back({h, 80, 1});
  return b;
}
}  // namespace

TEST_SUITE("balancer") {
  TEST_CASE("weights 90/10 split 10,000 picks exactly by smooth weighted round robin") {
    RouteSpec route;
    route.backends = {backend("a", 90, {"10.0.0.1"}), backend("b", 10, {"10.0.0.2"})};
    BalancerState state;
    std::map<std::string, int> count;
    for (int i = 0; i < 10000; ++i) count[Balancer::pick(route, state).backend->key]++;
    CHECK(count["a"] == 9000);
    CHECK(count["b"] == 1000);
  }

  TEST_CASE("smooth: the light backend is spread out, never two in a row at 2:1") {
    RouteSpec route;
    route.backends = {backend("a", 2, {"10.0.0.1"}), backend("b", 1, {"10.0.0.2"})};
    BalancerState state;
    std::string sequence;
    for (int i = 0; i < 9; ++i) sequence += Balancer::pick(route, state).backend->key;
    CHECK(sequence.find("bb") == std::string::npos);
    CHECK(std::count(sequence.begin(), sequence.end(), 'b') == 3);
  }

  TEST_CASE("endpoints of a backend take turns and a backend without endpoints is skipped") {
    RouteSpec route;
    route.backends = {backend("empty", 5, {}), backend("b", 1, {"10.0.0.1", "10.0.0.2", "10.0.0.3"})};
    BalancerState state;
    std::map<std::string, int> count;
    for (int i = 0; i < 300; ++i) count[Balancer::pick(route, state).endpoint->host]++;
    CHECK(count.size() == 3);
    CHECK(count["10.0.0.1"] == 100);
    CHECK(count["10.0.0.3"] == 100);
  }

  TEST_CASE("no endpoint anywhere gives an empty pick (503)") {
    RouteSpec route;
    route.backends = {backend("empty", 1, {})};
    BalancerState state;
    CHECK_FALSE(Balancer::pick(route, state));
  }

  TEST_CASE("a retry skips the endpoint that just failed when another exists") {
    RouteSpec route;
    route.backends = {backend("b", 1, {"10.0.0.1", "10.0.0.2"})};
    BalancerState state;
    const std::string failed = "10.0.0.1:80";
    for (int i = 0; i < 10; ++i) CHECK(Balancer::pick(route, state, &failed).endpoint->address() != failed);
  }

  TEST_CASE("cursors are kept per route name, so a new table continues where the old one was") {
    Balancer balancer;
    BalancerState* first = balancer.stateFor("ns/r/a");
    RouteSpec route;
    route.backends = {backend("b", 1, {"10.0.0.1", "10.0.0.2"})};
    CHECK(Balancer::pick(route, *first).endpoint->host == "10.0.0.1");
    BalancerState* again = balancer.stateFor("ns/r/a");
    CHECK(again == first);
    CHECK(Balancer::pick(route, *again).endpoint->host == "10.0.0.2");
  }
}
