#include "controller/status/leader_elector.h"

#include <doctest/doctest.h>

#include <atomic>

#include "controller/status/kube_time.h"
#include "test/controller/status/fake_kube_client.h"

namespace portico::controller::test {
namespace {

using namespace std::chrono_literals;

const char* kNs = "portico-system";
const char* kLease = "portico-leader";

LeaderElectionConfig fastConfig(const std::string& identity) {
  LeaderElectionConfig c;
  c.leaseName = kLease;
  c.leaseNamespace = kNs;
  c.identity = identity;
  c.leaseDuration = 1000ms;
  c.renewDeadline = 400ms;
  c.retryPeriod = 50ms;
  return c;
}

std::string holderOf(const FakeLeaseApi& api) {
  auto lease = api.lease(kNs, kLease);
  if (!lease) return "";
  return (*lease)["spec"].value("holderIdentity", "");
}

nlohmann::json liveSpec(const std::string& holder, WallClock::time_point renewed, int durationSeconds) {
  return {{"holderIdentity", holder},
          {"leaseDurationSeconds", durationSeconds},
          {"acquireTime", formatKubeMicroTime(renewed)},
          {"renewTime", formatKubeMicroTime(renewed)},
          {"leaseTransitions", 3}};
}

}  // namespace

TEST_SUITE("status") {
  TEST_CASE("MicroTime and Time are written in UTC in the API server's formats and parsed back") {
    const auto t = WallClock::time_point(std::chrono::microseconds(1136214245123456LL));  // 2006-01-02T15:04:05.123456Z
    CHECK(formatKubeMicroTime(t) == "2006-01-02T15:04:05.123456Z");
    CHECK(formatKubeTime(t) == "2006-01-02T15:04:05Z");
    CHECK(parseKubeTime("2006-01-02T15:04:05.123456Z") == t);
    CHECK(parseKubeTime("2006-01-02T15:04:05Z") == WallClock::time_point(std::chrono::seconds(1136214245)));
    CHECK(parseKubeTime("2006-01-02T17:04:05+02:00") == WallClock::time_point(std::chrono::seconds(1136214245)));
    CHECK(parseKubeTime("2006-01-02T15:04:05.1Z") ==
          WallClock::time_point(std::chrono::seconds(1136214245) + std::chrono::milliseconds(100)));
    CHECK_FALSE(parseKubeTime("2006-01-02 15:04:05"));
    CHECK_FALSE(parseKubeTime(""));
  }

  TEST_CASE("an elector creates the missing lease, leads, and keeps renewing it") {
    FakeKubeClient client;
    FakeLeaseApi api;
    api.attach(client);
    std::atomic<int> started{0};
    auto config = fastConfig("replica-a");
    config.onStartedLeading = [&] { ++started; };
    LeaderElector elector(client, config);
    CHECK_FALSE(elector.isLeader());
    elector.start();
    REQUIRE(eventually([&] { return elector.isLeader(); }));
    CHECK(started == 1);
    auto lease = api.lease(kNs, kLease);
    REQUIRE(lease);
    CHECK((*lease)["spec"]["holderIdentity"] == "replica-a");
    CHECK((*lease)["spec"]["leaseDurationSeconds"] == 1);
    CHECK(client.requests("POST").size() == 1);
    CHECK(client.requests("POST")[0].path == "/apis/coordination.k8s.io/v1/namespaces/portico-system/leases");
    const std::string firstRenew = (*lease)["spec"]["renewTime"];
    const std::string acquired = (*lease)["spec"]["acquireTime"];
    // Renewals move renewTime and keep acquireTime; leadership holds well past renewDeadline.
    REQUIRE(eventually([&] { return (*api.lease(kNs, kLease))["spec"]["renewTime"] != firstRenew; }));
    std::this_thread::sleep_for(600ms);
    CHECK(elector.isLeader());
    CHECK((*api.lease(kNs, kLease))["spec"]["acquireTime"] == acquired);
    CHECK(client.requests("PUT").size() >= 3);
    for (const auto& put : client.requests("PUT")) {
      const auto body = put.json();
      CHECK(body["metadata"].contains("resourceVersion"));  // optimistic concurrency
      const std::string renew = body["spec"]["renewTime"];
      CHECK(renew.size() == 27);  // 2006-01-02T15:04:05.000000Z
      CHECK(parseKubeTime(renew).has_value());
    }
    CHECK(started == 1);
  }

  TEST_CASE("a leader whose renewals fail stops leading within renewDeadline") {
    FakeKubeClient client;
    FakeLeaseApi api;
    api.attach(client);
    std::atomic<int> stopped{0};
    auto config = fastConfig("replica-a");
    config.onStoppedLeading = [&] { ++stopped; };
    LeaderElector elector(client, config);
    elector.start();
    REQUIRE(eventually([&] { return elector.isLeader(); }));
    const auto failedAt = std::chrono::steady_clock::now();
    api.setFailing(true);
    REQUIRE(eventually([&] { return !elector.isLeader(); }, 2000ms));
    // The last successful renewal started at most one retry period before the failures.
    CHECK(std::chrono::steady_clock::now() - failedAt < config.renewDeadline + 150ms);
    REQUIRE(eventually([&] { return stopped == 1; }));
    // Once the API answers again, it is our own lease: it leads again.
    api.setFailing(false);
    CHECK(eventually([&] { return elector.isLeader(); }));
  }

  TEST_CASE("isLeader turns false at the renew deadline even while a renewal request hangs") {
    FakeKubeClient client;
    FakeLeaseApi api;
    api.attach(client);
    LeaderElector elector(client, fastConfig("replica-a"));
    elector.start();
    REQUIRE(eventually([&] { return elector.isLeader(); }));
    const auto stalledAt = std::chrono::steady_clock::now();
    api.setStall(1500ms);
    REQUIRE(eventually([&] { return !elector.isLeader(); }, 1000ms));
    CHECK(std::chrono::steady_clock::now() - stalledAt < 400ms + 150ms);
    api.setStall(0ms);
    elector.stop();
  }

  TEST_CASE("an expired lease held by another replica is taken over") {
    FakeKubeClient client;
    FakeLeaseApi api;
    api.attach(client);
    api.put(kNs, kLease, liveSpec("replica-old", WallClock::now() - std::chrono::minutes(5), 15));
    LeaderElector elector(client, fastConfig("replica-b"));
    elector.start();
    REQUIRE(eventually([&] { return elector.isLeader(); }));
    auto lease = api.lease(kNs, kLease);
    CHECK((*lease)["spec"]["holderIdentity"] == "replica-b");
    CHECK((*lease)["spec"]["leaseTransitions"] == 4);
    CHECK(client.requests("POST").empty());
  }

  TEST_CASE("a live lease held by another replica is not taken") {
    FakeKubeClient client;
    FakeLeaseApi api;
    api.attach(client);
    api.put(kNs, kLease, liveSpec("replica-a", WallClock::now(), 15));
    LeaderElector elector(client, fastConfig("replica-b"));
    elector.start();
    std::this_thread::sleep_for(500ms);
    CHECK_FALSE(elector.isLeader());
    CHECK(client.requests("GET").size() >= 2);  // it keeps looking
    CHECK(client.requests("PUT").empty());
    CHECK(holderOf(api) == "replica-a");
  }

  TEST_CASE("a leader that sees another live holder stops leading at once") {
    FakeKubeClient client;
    FakeLeaseApi api;
    api.attach(client);
    std::atomic<int> stopped{0};
    auto config = fastConfig("replica-a");
    config.renewDeadline = 900ms;
    config.onStoppedLeading = [&] { ++stopped; };
    LeaderElector elector(client, config);
    elector.start();
    REQUIRE(eventually([&] { return elector.isLeader(); }));
    api.put(kNs, kLease, liveSpec("replica-z", WallClock::now() + std::chrono::seconds(5), 15));
    const auto takenAt = std::chrono::steady_clock::now();
    REQUIRE(eventually([&] { return !elector.isLeader(); }, 2000ms));
    CHECK(std::chrono::steady_clock::now() - takenAt < 300ms);  // well before renewDeadline
    CHECK(stopped == 1);
    CHECK(holderOf(api) == "replica-z");
  }

  TEST_CASE("a 409 on the update means the race was lost") {
    FakeKubeClient client;
    FakeLeaseApi api;
    api.attach(client);
    api.put(kNs, kLease, liveSpec("replica-old", WallClock::now() - std::chrono::minutes(5), 15));
    api.conflictNextUpdate();
    auto config = fastConfig("replica-b");
    config.retryPeriod = 300ms;
    LeaderElector elector(client, config);
    elector.start();
    REQUIRE(eventually([&] { return client.requests("PUT").size() == 1; }));
    CHECK_FALSE(elector.isLeader());
    CHECK(holderOf(api) == "replica-old");
    // The next attempt re-reads and wins.
    CHECK(eventually([&] { return elector.isLeader(); }));
  }

  TEST_CASE("stop releases the lease so a successor takes over without waiting for it to expire") {
    FakeKubeClient client;
    FakeLeaseApi api;
    api.attach(client);
    auto configA = fastConfig("replica-a");
    configA.leaseDuration = 15000ms;  // a successor would wait 15 s if it were not released
    configA.renewDeadline = 10000ms;
    std::atomic<int> stopped{0};
    configA.onStoppedLeading = [&] { ++stopped; };
    LeaderElector a(client, configA);
    a.start();
    REQUIRE(eventually([&] { return a.isLeader(); }));
    LeaderElector b(client, fastConfig("replica-b"));
    b.start();
    std::this_thread::sleep_for(300ms);
    CHECK_FALSE(b.isLeader());
    a.stop();
    CHECK_FALSE(a.isLeader());
    CHECK(stopped == 1);
    auto released = api.lease(kNs, kLease);
    // b may already have taken it; either way a no longer holds it.
    CHECK((*released)["spec"]["holderIdentity"] != "replica-a");
    const auto stoppedAt = std::chrono::steady_clock::now();
    REQUIRE(eventually([&] { return b.isLeader(); }, 3000ms));
    CHECK(std::chrono::steady_clock::now() - stoppedAt < 1000ms);
    CHECK(holderOf(api) == "replica-b");
  }

  TEST_CASE("two electors contending for one lease: never both leaders, one takes over when the other stops") {
    FakeKubeClient client;
    FakeLeaseApi api;
    api.attach(client);
    LeaderElector a(client, fastConfig("replica-a"));
    LeaderElector b(client, fastConfig("replica-b"));
    a.start();
    b.start();
    REQUIRE(eventually([&] { return a.isLeader() || b.isLeader(); }));
    for (int i = 0; i < 100; ++i) {
      CHECK_FALSE((a.isLeader() && b.isLeader()));
      std::this_thread::sleep_for(5ms);
    }
    LeaderElector& leader = a.isLeader() ? a : b;
    LeaderElector& follower = a.isLeader() ? b : a;
    CHECK(holderOf(api) == leader.identity());
    leader.stop();
    REQUIRE(eventually([&] { return follower.isLeader(); }, 3000ms));
    CHECK(holderOf(api) == follower.identity());
  }

  TEST_CASE("identity and namespace defaults come from the pod's environment") {
    ::setenv("POD_NAMESPACE", "edge", 1);
    ::setenv("POD_NAME", "portico-7d9f-abcde", 1);
    CHECK(defaultLeaseNamespace() == "edge");
    CHECK(defaultLeaderIdentity() == "portico-7d9f-abcde");
    ::unsetenv("POD_NAMESPACE");
    ::unsetenv("POD_NAME");
    CHECK(defaultLeaseNamespace() == "default");
    const std::string id = defaultLeaderIdentity();
    CHECK(id.find('_') != std::string::npos);
    CHECK(id.substr(id.rfind('_') + 1) == std::to_string(::getpid()));
  }
}

}  // namespace portico::controller::test
