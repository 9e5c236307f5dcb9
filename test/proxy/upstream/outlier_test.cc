#include <doctest/doctest.h>

#include "proxy/config/route_table.h"
#include "proxy/upstream/outlier.h"

using namespace portico::proxy;

namespace {
constexpr int64_t kSecond = 1'000'000'000;

struct Backend {
  explicit Backend(int n) : state(std::make_shared<BackendState>("ns/svc:80")) {
    for (int i = 0; i < n; ++i) peers.push_back(std::make_shared<EndpointState>("10.0.0." + std::to_string(i) + ":80"));
  }
  bool fail(int i, UpstreamOutcome outcome, int64_t now) {
    return recordOutcome(spec, *peers[i], *state, peers, outcome, now);
  }
  OutlierDetectionSpec spec{.consecutive5xx = 3, .consecutiveGatewayFailures = 2,
                            .baseEjectionTime = std::chrono::seconds(10), .maxEjectionTime = std::chrono::seconds(25),
                            .maxEjectionPercent = 50};
  BackendStatePtr state;
  std::vector<EndpointStatePtr> peers;
};
}  // namespace

TEST_SUITE("outlier detection") {
  TEST_CASE("consecutive 5xx eject for the base time; a success in between resets the count") {
    Backend b(4);
    const int64_t t = 100 * kSecond;
    CHECK_FALSE(b.fail(0, UpstreamOutcome::ServerError, t));
    CHECK_FALSE(b.fail(0, UpstreamOutcome::ServerError, t));
    CHECK_FALSE(b.fail(0, UpstreamOutcome::Success, t));
    CHECK_FALSE(b.fail(0, UpstreamOutcome::ServerError, t));
    CHECK_FALSE(b.fail(0, UpstreamOutcome::ServerError, t));
    CHECK(b.fail(0, UpstreamOutcome::ServerError, t));
    CHECK(b.peers[0]->ejected(t + 9 * kSecond));
    CHECK_FALSE(b.peers[0]->ejected(t + 10 * kSecond));
    CHECK(b.peers[0]->ejections == 1);
  }

  TEST_CASE("gateway failures have their own, lower threshold") {
    Backend b(4);
    CHECK_FALSE(b.fail(1, UpstreamOutcome::GatewayFailure, kSecond));
    CHECK(b.fail(1, UpstreamOutcome::GatewayFailure, kSecond));
  }

  TEST_CASE("repeated ejections grow the ejection time up to the maximum, and it decays when clean") {
    Backend b(4);
    int64_t t = 100 * kSecond;
    auto ejectAt = [&](int64_t now) {
      for (int i = 0; i < 2; ++i) b.fail(0, UpstreamOutcome::GatewayFailure, now);
      return (b.peers[0]->ejectedUntilNanos.load() - now) / kSecond;
    };
    CHECK(ejectAt(t) == 10);
    t += 11 * kSecond;
    CHECK(ejectAt(t) == 20);
    t += 21 * kSecond;
    CHECK(ejectAt(t) == 25);  // 30 capped at 25
    t += 26 * kSecond + 100 * kSecond;  // long clean period: the multiplier decays to zero
    CHECK(ejectAt(t) == 10);
  }

  TEST_CASE("at most maxEjectionPercent of a backend is ejected, but one endpoint always may be") {
    Backend b(4);
    const int64_t t = kSecond;
    for (int i = 0; i < 2; ++i) b.fail(0, UpstreamOutcome::GatewayFailure, t);
    for (int i = 0; i < 2; ++i) b.fail(1, UpstreamOutcome::GatewayFailure, t);
    CHECK(b.peers[0]->ejected(t));
    CHECK(b.peers[1]->ejected(t));
    for (int i = 0; i < 2; ++i) b.fail(2, UpstreamOutcome::GatewayFailure, t);
    CHECK_FALSE(b.peers[2]->ejected(t));  // 3 of 4 would exceed 50%

    Backend single(1);
    for (int i = 0; i < 2; ++i) single.fail(0, UpstreamOutcome::GatewayFailure, t);
    CHECK(single.peers[0]->ejected(t));
  }
}

TEST_SUITE("upstream registry") {
  TEST_CASE("state is shared by key and survives while a table names it") {
    UpstreamRegistry registry;
    EndpointStatePtr a = registry.endpoint("10.0.0.1:80");
    a->ejections = 3;
    CHECK(registry.endpoint("10.0.0.1:80") == a);

    RouteTableSpec spec;
    RouteSpec route;
    route.name = "ns/r/a";
    route.backends.push_back({"ns/svc:80", 1, std::nullopt, {{"10.0.0.1", 80, 1}}});
    spec.routes.push_back(route);
    auto table = RouteTable::build(spec, 1);
    REQUIRE(table);
    registry.backend("ns/gone:80");
    registry.endpoint("10.0.0.9:80");
    EndpointStatePtr held = registry.endpoint("10.0.0.8:80");
    a.reset();
    registry.sweep(**table);
    CHECK(registry.endpoint("10.0.0.1:80")->ejections == 3);  // named by the table: kept
    CHECK(registry.endpoint("10.0.0.9:80")->ejections == 0);  // was freed, now new
    held->ejections = 5;
    registry.sweep(**table);
    CHECK(registry.endpoint("10.0.0.8:80")->ejections == 5);  // still held by a worker: kept
  }
}

#include <boost/asio/io_context.hpp>

#include "proxy/upstream/upstream_pool.h"

TEST_SUITE("upstream pool") {
  TEST_CASE("a table swap closes the idle connections of endpoints that left, and each counts for its backend") {
    boost::asio::io_context ioc;
    UpstreamPool pool(ioc, 16);
    auto backend = std::make_shared<BackendState>("ns/svc:80");
    for (const char* endpoint : {"10.0.0.1:80", "10.0.0.1:80", "10.0.0.2:80"}) {
      auto conn = std::make_unique<UpstreamConnection>(ioc, backend);
      conn->endpoint = endpoint;
      pool.put(std::move(conn), std::chrono::seconds(60));
    }
    CHECK(pool.idleCount() == 3);
    CHECK(backend->connections == 3);  // the circuit breaker's maxConnections counter
    pool.retainIf([](const std::string& endpoint) { return endpoint == "10.0.0.1:80"; });
    CHECK(pool.idleCount() == 2);
    CHECK(backend->connections == 2);
    pool.closeAll();
    CHECK(backend->connections == 0);
  }
}
