// Balancer overhead per pick for each policy at 10 and 1,000 endpoints, in the two shapes
// a rule can have: one backend (a Kubernetes Service) with N endpoints, and N backends of
// one endpoint (static urls). Single thread, warm caches. A benchmark, not a test: it
// prints numbers and asserts nothing.   build/balancer_bench [picks per cell]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "proxy/upstream/balancer.h"

using namespace portico::proxy;

namespace {
RouteSpec makeRoute(LoadBalancingPolicy policy, int endpoints, bool oneBackend) {
  RouteSpec route;
  route.name = "bench/route/r";
  route.loadBalancing = policy;
  for (int i = 0; i < endpoints; ++i) {
    const std::string host = "10.1." + std::to_string(i / 250) + "." + std::to_string(i % 250);
    if (oneBackend && i > 0) {
      route.backends.back().endpoints.push_back({host, 8080, 1});
    } else {
      route.backends.push_back({"bench/svc-" + std::to_string(i) + ":8080", 1, false, {{host, 8080, 1}}});
    }
  }
  return route;
}

double nanosPerPick(const RouteSpec& route, long picks) {
  UpstreamRegistry registry;
  RouteBalancer balancer(route, registry);
  BalancerCursors cursors;
  std::mt19937_64 random(1);
  uint64_t sink = 0;
  const auto start = std::chrono::steady_clock::now();
  for (long i = 0; i < picks; ++i) {
    PickRequest request;
    request.now = nowNanos();  // the session reads the clock once per request too
    if (route.loadBalancing == LoadBalancingPolicy::ConsistentHash) request.hashKey = balancingHash(std::to_string(i & 1023));
    const Pick pick = balancer.pick(request, cursors, random);
    sink += reinterpret_cast<uintptr_t>(pick.endpoint);
  }
  const auto elapsed = std::chrono::steady_clock::now() - start;
  if (sink == 42) std::puts("");  // keeps the loop
  return std::chrono::duration<double, std::nano>(elapsed).count() / double(picks);
}
}  // namespace

int main(int argc, char** argv) {
  const long picks = argc > 1 ? std::atol(argv[1]) : 2'000'000;
  const std::pair<const char*, LoadBalancingPolicy> policies[] = {
      {"RoundRobin", LoadBalancingPolicy::RoundRobin},
      {"LeastRequest", LoadBalancingPolicy::LeastRequest},
      {"Random", LoadBalancingPolicy::Random},
      {"ConsistentHash", LoadBalancingPolicy::ConsistentHash}};
  std::printf("ns per pick (%ld picks per cell; ConsistentHash includes hashing the key)\n", picks);
  std::printf("%-16s %12s %12s %14s %14s\n", "policy", "1x10 eps", "1x1000 eps", "10 backends", "1000 backends");
  for (const auto& [name, policy] : policies) {
    std::printf("%-16s", name);
    for (bool oneBackend : {true, false})
      for (int n : {10, 1000}) std::printf(" %12.1f", nanosPerPick(makeRoute(policy, n, oneBackend), picks));
    std::printf("\n");
  }
}
