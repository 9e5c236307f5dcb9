#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
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

std::vector<std::string> hostRange(int from, int count) {
  std::vector<std::string> hosts;
  for (int i = from; i < from + count; ++i) hosts.push_back("10.0." + std::to_string(i / 250) + "." + std::to_string(i % 250));
  return hosts;
}

// A route, its registry and cursors: what one worker holds for one table version.
struct Fixture {
  explicit Fixture(RouteSpec spec) : route(std::move(spec)), balancer(route, registry) {}
  Pick pick(PickRequest request = {}) {
    if (!request.now) request.now = nowNanos();
    return balancer.pick(request, cursors, random);
  }
  std::map<std::string, int> count(int n, PickRequest request = {}) {
    std::map<std::string, int> out;
    for (int i = 0; i < n; ++i) out[pick(request).endpoint->host]++;
    return out;
  }
  UpstreamRegistry registry;
  RouteSpec route;
  RouteBalancer balancer;
  BalancerCursors cursors;
  std::mt19937_64 random{42};
};

RouteSpec routeWith(std::vector<BackendSpec> backends, LoadBalancingPolicy policy = LoadBalancingPolicy::RoundRobin) {
  RouteSpec route;
  route.name = "ns/r/a";
  route.backends = std::move(backends);
  route.loadBalancing = policy;
  return route;
}
}  // namespace

TEST_SUITE("balancer") {
  TEST_CASE("unresolved backend references take their weight's share of requests, all of them without backends") {
    std::mt19937_64 random{7};
    RouteSpec route = routeWith({backend("a", 3, {"10.0.0.1"})});
    auto share = [&](int n) {
      int hits = 0;
      for (int i = 0; i < n; ++i) hits += drawsUnresolvedBackend(route, random);
      return hits;
    };
    CHECK(share(1000) == 0);  // nothing unresolved
    route.unresolvedBackendWeight = 1;
    const int quarter = share(20000);
    CHECK(quarter > 4600);  // 1 of 3 + 1
    CHECK(quarter < 5400);
    route.backends.clear();
    CHECK(share(1000) == 1000);
    route.backends = {backend("a", 0, {"10.0.0.1"})};  // a weight of 0 takes nothing either
    CHECK(share(1000) == 1000);
  }

  TEST_CASE("weights 90/10 split 10,000 picks exactly by smooth weighted round robin") {
    Fixture f(routeWith({backend("a", 90, {"10.0.0.1"}), backend("b", 10, {"10.0.0.2"})}));
    std::map<std::string, int> count;
    for (int i = 0; i < 10000; ++i) count[f.pick().backend->key]++;
    CHECK(count["a"] == 9000);
    CHECK(count["b"] == 1000);
  }

  TEST_CASE("the canary split holds for every policy within 3 points over 10,000 requests") {
    for (auto policy : {LoadBalancingPolicy::LeastRequest, LoadBalancingPolicy::Random}) {
      Fixture f(routeWith({backend("a", 90, {"10.0.0.1", "10.0.0.2"}), backend("b", 10, {"10.0.1.1"})}, policy));
      std::map<std::string, int> count;
      for (int i = 0; i < 10000; ++i) count[f.pick().backend->key]++;
      CHECK(count["b"] == doctest::Approx(1000).epsilon(0.3));
    }
    Fixture hash(routeWith({backend("a", 90, hostRange(0, 5)), backend("b", 10, hostRange(100, 5))},
                           LoadBalancingPolicy::ConsistentHash));
    std::map<std::string, int> count;
    for (int i = 0; i < 10000; ++i)
      count[hash.pick({.hashKey = balancingHash("user-" + std::to_string(i))}).backend->key]++;
    CHECK(count["b"] == doctest::Approx(1000).epsilon(0.3));
  }

  TEST_CASE("smooth: the light backend is spread out, never two in a row at 2:1") {
    Fixture f(routeWith({backend("a", 2, {"10.0.0.1"}), backend("b", 1, {"10.0.0.2"})}));
    std::string sequence;
    for (int i = 0; i < 9; ++i) sequence += f.pick().backend->key;
    CHECK(sequence.find("bb") == std::string::npos);
    CHECK(std::count(sequence.begin(), sequence.end(), 'b') == 3);
  }

  TEST_CASE("endpoints of a backend take turns and a backend without endpoints is skipped") {
    Fixture f(routeWith({backend("empty", 5, {}), backend("b", 1, {"10.0.0.1", "10.0.0.2", "10.0.0.3"})}));
    auto count = f.count(300);
    CHECK(count.size() == 3);
    CHECK(count["10.0.0.1"] == 100);
    CHECK(count["10.0.0.3"] == 100);
  }

  TEST_CASE("endpoint weights are honoured by round robin and random") {
    RouteSpec route = routeWith({backend("b", 1, {"10.0.0.1", "10.0.0.2"})});
    route.backends[0].endpoints[0].weight = 3;
    Fixture rr(route);
    auto count = rr.count(400);
    CHECK(count["10.0.0.1"] == 300);
    route.loadBalancing = LoadBalancingPolicy::Random;
    Fixture random(route);
    count = random.count(10000);
    CHECK(count["10.0.0.1"] == doctest::Approx(7500).epsilon(0.03));
  }

  TEST_CASE("random spreads evenly within 5% over 10,000 picks") {
    Fixture f(routeWith({backend("b", 1, hostRange(0, 4))}, LoadBalancingPolicy::Random));
    for (auto& [host, n] : f.count(10000)) CHECK(n == doctest::Approx(2500).epsilon(0.05));
  }

  TEST_CASE("least request: power of two choices avoids the busy endpoint") {
    Fixture f(routeWith({backend("b", 1, hostRange(0, 4))}, LoadBalancingPolicy::LeastRequest));
    f.registry.endpoint("10.0.0.0:80")->inFlight = 50;  // a slow endpoint piles up requests
    auto count = f.count(10000);
    // It only wins a draw against itself: about (1/4)^2 of the picks.
    CHECK(count["10.0.0.0"] < 10000 / 16 * 1.3);
    CHECK(count["10.0.0.1"] == doctest::Approx(3125).epsilon(0.1));
  }

  TEST_CASE("least request divides load by weight") {
    RouteSpec route = routeWith({backend("b", 1, {"10.0.0.1", "10.0.0.2"})}, LoadBalancingPolicy::LeastRequest);
    route.backends[0].endpoints[0].weight = 10;
    Fixture f(route);
    f.registry.endpoint("10.0.0.1:80")->inFlight = 5;  // (5+1)/10 < (0+1)/1
    f.registry.endpoint("10.0.0.2:80")->inFlight = 0;
    auto count = f.count(1000);
    CHECK(count["10.0.0.1"] > count["10.0.0.2"]);
  }

  TEST_CASE("consistent hash: the same key always lands on the same endpoint") {
    Fixture f(routeWith({backend("b", 1, hostRange(0, 10))}, LoadBalancingPolicy::ConsistentHash));
    for (int i = 0; i < 100; ++i) {
      const PickRequest request{.hashKey = balancingHash("key-" + std::to_string(i))};
      const std::string first = f.pick(request).endpoint->host;
      for (int j = 0; j < 5; ++j) CHECK(f.pick(request).endpoint->host == first);
    }
  }

  TEST_CASE("consistent hash: adding or removing one of N endpoints remaps about 1/N of the keys") {
    const int n = 10, keys = 20000;
    Fixture before(routeWith({backend("b", 1, hostRange(0, n))}, LoadBalancingPolicy::ConsistentHash));
    Fixture removed(routeWith({backend("b", 1, hostRange(0, n - 1))}, LoadBalancingPolicy::ConsistentHash));
    Fixture added(routeWith({backend("b", 1, hostRange(0, n + 1))}, LoadBalancingPolicy::ConsistentHash));
    int movedOnRemove = 0, movedOnAdd = 0;
    std::map<std::string, int> spread;
    for (int i = 0; i < keys; ++i) {
      const PickRequest request{.hashKey = balancingHash("user-" + std::to_string(i))};
      const std::string owner = before.pick(request).endpoint->host;
      spread[owner]++;
      movedOnRemove += removed.pick(request).endpoint->host != owner;
      movedOnAdd += added.pick(request).endpoint->host != owner;
    }
    MESSAGE("remapped on remove: " << movedOnRemove << ", on add: " << movedOnAdd << " of " << keys);
    // Only the removed endpoint's keys move (1/N = 2000), and about 1/(N+1) on add.
    CHECK(movedOnRemove == doctest::Approx(keys / n).epsilon(0.3));
    CHECK(movedOnAdd == doctest::Approx(keys / (n + 1)).epsilon(0.3));
    for (auto& [host, count] : spread) CHECK(count == doctest::Approx(keys / n).epsilon(0.3));
  }

  TEST_CASE("consistent hash: an unavailable owner's keys move to neighbours and come back") {
    Fixture f(routeWith({backend("b", 1, hostRange(0, 5))}, LoadBalancingPolicy::ConsistentHash));
    const PickRequest request{.hashKey = balancingHash("sticky")};
    const Pick owner = f.pick(request);
    owner.endpointState->activeHealthy = false;
    CHECK(f.pick(request).endpoint->host != owner.endpoint->host);
    owner.endpointState->activeHealthy = true;
    CHECK(f.pick(request).endpoint->host == owner.endpoint->host);
  }

  TEST_CASE("session affinity: the cookie's endpoint wins while available, then another is chosen") {
    RouteSpec route = routeWith({backend("b", 1, hostRange(0, 3))});
    route.sessionAffinity = SessionAffinitySpec{};
    Fixture f(route);
    const Pick first = f.pick();
    const PickRequest pinned{.affinityId = first.affinityId};
    for (int i = 0; i < 10; ++i) CHECK(f.pick(pinned).endpoint->host == first.endpoint->host);
    first.endpointState->activeHealthy = false;
    const Pick failover = f.pick(pinned);
    CHECK(failover.endpoint->host != first.endpoint->host);
    CHECK(failover.affinityId != first.affinityId);
    CHECK(f.pick({.affinityId = 12345}).endpoint != nullptr);  // unknown id: a normal pick
  }

  TEST_CASE("unhealthy and ejected endpoints get no traffic") {
    Fixture f(routeWith({backend("b", 1, hostRange(0, 4))}));
    f.registry.endpoint("10.0.0.0:80")->activeHealthy = false;
    f.registry.endpoint("10.0.0.1:80")->ejectedUntilNanos = nowNanos() + 60'000'000'000;
    auto count = f.count(100);
    CHECK(count.count("10.0.0.0") == 0);
    CHECK(count.count("10.0.0.1") == 0);
    CHECK(count["10.0.0.2"] == 50);
  }

  TEST_CASE("panic: below the threshold the route spreads over every endpoint") {
    RouteSpec route = routeWith({backend("b", 1, hostRange(0, 4))});
    route.panicThresholdPercent = 50;
    Fixture f(route);
    for (int i = 0; i < 3; ++i) f.registry.endpoint("10.0.0." + std::to_string(i) + ":80")->activeHealthy = false;
    auto count = f.count(400);  // 1 of 4 healthy (25% < 50%): all four serve
    CHECK(count.size() == 4);
    CHECK(f.pick().panic);
  }

  TEST_CASE("panic off: every endpoint down means no pick (503)") {
    RouteSpec route = routeWith({backend("b", 1, hostRange(0, 2))});
    route.panicThresholdPercent = 0;
    Fixture f(route);
    for (int i = 0; i < 2; ++i) f.registry.endpoint("10.0.0." + std::to_string(i) + ":80")->activeHealthy = false;
    CHECK_FALSE(f.pick());
  }

  TEST_CASE("a backend with nothing available hands its share to the others") {
    Fixture f(routeWith({backend("a", 90, {"10.0.0.1"}), backend("b", 10, {"10.0.1.1", "10.0.1.2"})}));
    f.registry.endpoint("10.0.0.1:80")->activeHealthy = false;  // 1 of 3 down: no panic
    std::map<std::string, int> count;
    for (int i = 0; i < 100; ++i) count[f.pick().backend->key]++;
    CHECK(count["b"] == 100);
  }

  TEST_CASE("no endpoint anywhere gives an empty pick (503)") {
    Fixture f(routeWith({backend("empty", 1, {})}));
    CHECK_FALSE(f.pick());
  }

  TEST_CASE("a retry avoids endpoints already tried when another exists") {
    for (auto policy : {LoadBalancingPolicy::RoundRobin, LoadBalancingPolicy::LeastRequest, LoadBalancingPolicy::Random,
                        LoadBalancingPolicy::ConsistentHash}) {
      Fixture f(routeWith({backend("b", 1, {"10.0.0.1", "10.0.0.2", "10.0.0.3"})}, policy));
      const Pick first = f.pick({.hashKey = 7});
      std::vector<const EndpointState*> tried{first.endpointState};
      for (int i = 0; i < 20; ++i) CHECK(f.pick({.hashKey = 7, .tried = &tried}).endpoint != first.endpoint);
      tried = {f.registry.endpoint("10.0.0.1:80").get(), f.registry.endpoint("10.0.0.2:80").get(),
               f.registry.endpoint("10.0.0.3:80").get()};
      CHECK(f.pick({.hashKey = 7, .tried = &tried}));  // all tried: any endpoint rather than none
    }
  }

  TEST_CASE("cursors are kept per route name, so a new table continues where the old one was") {
    BalancerCursorStore store;
    BalancerCursors* first = store.cursorsFor("ns/r/a");
    UpstreamRegistry registry;
    RouteSpec route = routeWith({backend("b", 1, {"10.0.0.1", "10.0.0.2"})});
    RouteBalancer oldTable(route, registry);
    std::mt19937_64 random;
    CHECK(oldTable.pick({}, *first, random).endpoint->host == "10.0.0.1");
    RouteBalancer newTable(route, registry);
    BalancerCursors* again = store.cursorsFor("ns/r/a");
    CHECK(again == first);
    CHECK(newTable.pick({}, *again, random).endpoint->host == "10.0.0.2");
  }

  TEST_CASE("balancingHash is FNV-1a 64 with the splitmix64 finalizer, the same in every process") {
    // Value computed independently (Python); a change here would remap every key of every
    // replica at upgrade time.
    CHECK(balancingHash("10.0.0.1:80") == 15833689265622162035ull);
    CHECK(balancingHash("a") != balancingHash("b"));
  }
}
