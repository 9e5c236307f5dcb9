// RedisRateLimiter against a real redis-server started by each test on a free port.
#include "proxy/policy/redis_rate_limiter.h"

#include <doctest/doctest.h>
#include <hiredis/hiredis.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "test/proxy/redis_test_server.h"

using namespace std::chrono_literals;
using portico::proxy::RateLimitSpec;
using portico::proxy::policy::RateLimitDecision;
using portico::proxy::policy::RedisRateLimiter;
using portico::proxy::policy::RedisRateLimiterOptions;
using portico::proxy::policy::renderRateLimitHeaders;
using portico::test::freePort;
using portico::test::RedisServer;

namespace {

RedisRateLimiterOptions options(uint16_t port) {
  RedisRateLimiterOptions o;
  o.host = "127.0.0.1";
  o.port = port;
  o.connectTimeout = 200ms;  // generous: the test machine is shared and slow
  o.commandTimeout = 200ms;
  o.retryInterval = 300ms;
  return o;
}

RateLimitSpec spec(uint64_t requests, std::chrono::milliseconds period, uint64_t burst = 0, bool failOpen = true) {
  RateLimitSpec s;
  s.requests = requests;
  s.period = period;
  s.burst = burst;
  s.global = true;
  s.failOpen = failOpen;
  return s;
}

int allowedOf(RedisRateLimiter& limiter, std::string_view key, const RateLimitSpec& s, int n) {
  int allowed = 0;
  for (int i = 0; i < n; ++i) {
    RateLimitDecision d = limiter.decide("route", key, s);
    CHECK_FALSE(d.unavailable);
    allowed += d.allowed ? 1 : 0;
  }
  return allowed;
}

std::chrono::milliseconds elapsedSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start);
}

}  // namespace

TEST_SUITE("redis_rate_limiter") {
  TEST_CASE("redis: key names are namespaced, escaped and bounded") {
    CHECK(RedisRateLimiter::redisKey("ns/route/0", "10.0.0.1") == "portico:rl:ns/route/0:10.0.0.1");
    CHECK(RedisRateLimiter::redisKey("ns/route/0", "2001:db8::1") == "portico:rl:ns/route/0:2001:db8::1");
    CHECK(RedisRateLimiter::redisKey("a:b", "c") == "portico:rl:a%3Ab:c");
    CHECK(RedisRateLimiter::redisKey("a", "b:c") == "portico:rl:a:b:c");
    CHECK(RedisRateLimiter::redisKey("100%#", "k") == "portico:rl:100%25%23:k");
    std::string longKey(500, 'x');
    std::string k = RedisRateLimiter::redisKey("r", longKey);
    CHECK(k.rfind("portico:rl:r#", 0) == 0);
    CHECK(k.size() == std::string("portico:rl:r#").size() + 64);
    CHECK(k != RedisRateLimiter::redisKey("r", longKey + "y"));
  }

  TEST_CASE("redis: exact limit for one key, decision fields and headers") {
    RedisServer server;
    RedisRateLimiter limiter(options(server.port()));
    RateLimitSpec s = spec(10, 60s);  // T = 6 s: no refill during the test
    for (uint64_t i = 0; i < 10; ++i) {
      RateLimitDecision d = limiter.decide("route", "client", s);
      REQUIRE_FALSE(d.unavailable);
      CHECK(d.allowed);
      CHECK(d.limit == 10);
      CHECK(d.remaining == 9 - i);
    }
    for (int i = 0; i < 20; ++i) {
      RateLimitDecision d = limiter.decide("route", "client", s);
      CHECK_FALSE(d.allowed);
      CHECK_FALSE(d.unavailable);
      CHECK(d.remaining == 0);
      CHECK(d.retryAfter > 5s);
      CHECK(d.retryAfter <= 6s);
      CHECK(d.resetAfter > 59s);
      CHECK(d.resetAfter <= 60s);
      CHECK(renderRateLimitHeaders(d).retryAfter == "6");
    }
    CHECK(limiter.healthy());
    // Another key and another policy are independent.
    CHECK(allowedOf(limiter, "other", s, 15) == 10);
    CHECK(limiter.decide("route-2", "client", s).allowed);
    // Burst.
    CHECK(allowedOf(limiter, "bursty", spec(5, 60s, 3), 20) == 8);
  }

  TEST_CASE("redis: two limiters (two replicas) share one limit, also from many threads") {
    RedisServer server;
    RedisRateLimiter a(options(server.port()));
    RedisRateLimiter b(options(server.port()));
    RateLimitSpec s = spec(20, 60s, 5);
    int allowed = 0;
    for (int i = 0; i < 40; ++i) {
      allowed += a.decide("route", "shared", s).allowed ? 1 : 0;
      allowed += b.decide("route", "shared", s).allowed ? 1 : 0;
    }
    CHECK(allowed == 25);

    std::atomic<int> total{0};
    std::atomic<int> unavailable{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 6; ++t) {
      threads.emplace_back([&, t] {
        RedisRateLimiter& limiter = t % 2 ? a : b;
        for (int i = 0; i < 30; ++i) {
          RateLimitDecision d = limiter.decide("route", "threads", s);
          total += d.allowed ? 1 : 0;
          unavailable += d.unavailable ? 1 : 0;
        }
      });
    }
    for (auto& th : threads) th.join();
    CHECK(unavailable.load() == 0);
    CHECK(total.load() == 25);
  }

  TEST_CASE("redis: buckets expire when full again; refill over time") {
    RedisServer server;
    RedisRateLimiter limiter(options(server.port()));
    RateLimitSpec s = spec(2, 400ms);  // T = 200 ms
    CHECK(allowedOf(limiter, "k", s, 5) == 2);
    const std::string key = RedisRateLimiter::redisKey("route", "k");
    CHECK(server.integer({"EXISTS", key}) == 1);
    long long pttl = server.integer({"PTTL", key});
    CHECK(pttl > 0);
    CHECK(pttl <= 400);
    std::this_thread::sleep_for(250ms);
    CHECK(allowedOf(limiter, "k", s, 5) == 1);  // one emission interval passed
    std::this_thread::sleep_for(500ms);
    CHECK(server.integer({"EXISTS", key}) == 0);
    CHECK(allowedOf(limiter, "k", s, 5) == 2);  // fresh again
  }

  TEST_CASE("redis: a flushed script cache falls back to EVAL") {
    RedisServer server;
    RedisRateLimiter limiter(options(server.port()));
    RateLimitSpec s = spec(3, 60s);
    CHECK(allowedOf(limiter, "k", s, 1) == 1);
    redisReply* r = server.run({"SCRIPT", "FLUSH"});
    REQUIRE(r != nullptr);
    freeReplyObject(r);
    CHECK(allowedOf(limiter, "k", s, 5) == 2);
  }

  TEST_CASE("redis: a spec change keeps the used fraction") {
    RedisServer server;
    RedisRateLimiter limiter(options(server.port()));
    CHECK(allowedOf(limiter, "k", spec(10, 60s), 5) == 5);
    CHECK(allowedOf(limiter, "k", spec(20, 60s), 30) == 10);
  }

  TEST_CASE("redis: stopped Redis: fail-open allows, fail-closed denies, both flag it; backoff") {
    RedisServer server;
    RedisRateLimiterOptions o = options(server.port());
    o.retryInterval = 2s;
    RedisRateLimiter limiter(o);
    CHECK(allowedOf(limiter, "k", spec(5, 60s), 1) == 1);
    server.stop();

    RateLimitDecision open = limiter.decide("route", "k", spec(5, 60s, 0, true));
    CHECK(open.allowed);
    CHECK(open.unavailable);
    CHECK_FALSE(limiter.healthy());
    CHECK(renderRateLimitHeaders(open).list().empty());
    RateLimitDecision closed = limiter.decide("route", "k", spec(5, 60s, 0, false));
    CHECK_FALSE(closed.allowed);
    CHECK(closed.unavailable);
    // During the backoff nobody connects: decisions are immediate.
    auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < 1000; ++i) {
      RateLimitDecision d = limiter.decide("route", "k", spec(5, 60s, 0, false));
      CHECK(d.unavailable);
    }
    CHECK(elapsedSince(start) < 100ms);
  }

  TEST_CASE("redis: a limiter whose Redis never was there fails fast and flags it") {
    uint16_t port = freePort();  // nothing listens here
    RedisRateLimiter limiter(options(port));
    auto start = std::chrono::steady_clock::now();
    RateLimitDecision d = limiter.decide("route", "k", spec(5, 60s, 0, false));
    CHECK(elapsedSince(start) < 500ms);
    CHECK(d.unavailable);
    CHECK_FALSE(d.allowed);
  }

  TEST_CASE("redis: restarted Redis is used again after the backoff, by every thread") {
    RedisServer server;
    RedisRateLimiterOptions o = options(server.port());
    o.retryInterval = 300ms;
    RedisRateLimiter limiter(o);
    RateLimitSpec s = spec(100, 60s);
    // Pooled connections on two threads.
    std::thread([&] { CHECK_FALSE(limiter.decide("route", "k", s).unavailable); }).join();
    CHECK_FALSE(limiter.decide("route", "k", s).unavailable);

    server.stop();
    CHECK(limiter.decide("route", "k", s).unavailable);
    server.start();  // same port, empty data
    CHECK(limiter.decide("route", "k", s).unavailable);  // still backing off
    std::this_thread::sleep_for(350ms);
    // The stale pooled connection is replaced transparently.
    RateLimitDecision d = limiter.decide("route", "k", s);
    CHECK_FALSE(d.unavailable);
    CHECK(d.allowed);
    CHECK(d.remaining == 99);  // the restarted server started from an empty bucket
    CHECK(limiter.healthy());
    std::thread([&] { CHECK_FALSE(limiter.decide("route", "k", s).unavailable); }).join();
  }

  TEST_CASE("redis: a hung Redis (SIGSTOP) costs at most about the command timeout") {
    RedisServer server;
    RedisRateLimiterOptions o = options(server.port());
    o.commandTimeout = 50ms;
    o.connectTimeout = 50ms;
    o.retryInterval = 200ms;
    RedisRateLimiter limiter(o);
    RateLimitSpec s = spec(100, 60s, 0, false);
    CHECK_FALSE(limiter.decide("route", "k", s).unavailable);
    server.pause();
    auto start = std::chrono::steady_clock::now();
    RateLimitDecision d = limiter.decide("route", "k", s);
    auto took = elapsedSince(start);
    CHECK(d.unavailable);
    CHECK_FALSE(d.allowed);
    CHECK(took >= 40ms);
    CHECK(took < 50ms + 150ms);
    // A new connection to the hung server (accepted by the kernel) is bounded too.
    std::this_thread::sleep_for(250ms);
    start = std::chrono::steady_clock::now();
    d = limiter.decide("route", "k", s);
    took = elapsedSince(start);
    CHECK(d.unavailable);
    CHECK(took < 50ms + 50ms + 150ms);
    server.resume();
    std::this_thread::sleep_for(250ms);
    CHECK_FALSE(limiter.decide("route", "k", s).unavailable);
  }

  TEST_CASE("redis: requests == 0 denies without asking Redis") {
    RedisRateLimiter limiter(options(freePort()));
    RateLimitDecision d = limiter.decide("route", "k", spec(0, 1s));
    CHECK_FALSE(d.allowed);
    CHECK_FALSE(d.unavailable);
    CHECK(d.retryAfter == 1s);
  }
}
