#include "proxy/policy/rate_limiter.h"

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using portico::proxy::RateLimitSpec;
using portico::proxy::policy::ceilSeconds;
using portico::proxy::policy::LocalRateLimiter;
using portico::proxy::policy::LocalRateLimiterOptions;
using portico::proxy::policy::RateLimitDecision;
using portico::proxy::policy::renderRateLimitHeaders;

namespace {
using TimePoint = LocalRateLimiter::Clock::time_point;
const TimePoint kStart = TimePoint{} + 1000h;

RateLimitSpec spec(uint64_t requests, std::chrono::milliseconds period, uint64_t burst = 0) {
  RateLimitSpec s;
  s.requests = requests;
  s.period = period;
  s.burst = burst;
  return s;
}

// How many of `n` back-to-back requests at `now` pass.
int allowedOf(LocalRateLimiter& limiter, std::string_view policy, std::string_view key, const RateLimitSpec& s,
              TimePoint now, int n) {
  int allowed = 0;
  for (int i = 0; i < n; ++i) allowed += limiter.decide(policy, key, s, now).allowed ? 1 : 0;
  return allowed;
}
}  // namespace

TEST_SUITE("rate_limiter") {
  TEST_CASE("local: a fresh key allows exactly requests + burst back-to-back") {
    LocalRateLimiter limiter;
    CHECK(allowedOf(limiter, "r", "k", spec(10, 1s), kStart, 100) == 10);
    CHECK(allowedOf(limiter, "r", "k2", spec(10, 1s, 5), kStart, 100) == 15);
    CHECK(allowedOf(limiter, "r", "k3", spec(1, 1s), kStart, 5) == 1);
    CHECK(limiter.decide("r", "now", spec(1, 1h)).allowed);  // Clock::now() overload
    CHECK_FALSE(limiter.decide("r", "now", spec(1, 1h)).allowed);
    CHECK(allowedOf(limiter, "r", "k4", spec(3, 1s, 2), kStart, 100) == 5);  // T does not divide 1 s
  }

  TEST_CASE("local: decision fields count down, and denials carry retryAfter") {
    LocalRateLimiter limiter;
    RateLimitSpec s = spec(4, 1s, 1);  // T = 250 ms, capacity 5
    for (uint64_t i = 0; i < 5; ++i) {
      RateLimitDecision d = limiter.decide("r", "k", s, kStart);
      CHECK(d.allowed);
      CHECK_FALSE(d.unavailable);
      CHECK(d.limit == 4);
      CHECK(d.remaining == 4 - i);
      CHECK(d.resetAfter == std::chrono::nanoseconds(250ms) * static_cast<int64_t>(i + 1));
      CHECK(d.retryAfter == 0ns);
    }
    RateLimitDecision denied = limiter.decide("r", "k", s, kStart);
    CHECK_FALSE(denied.allowed);
    CHECK(denied.remaining == 0);
    CHECK(denied.retryAfter == 250ms);
    CHECK(denied.resetAfter == 1250ms);
    // A denial does not consume: just before retryAfter still denied, at it allowed.
    CHECK_FALSE(limiter.decide("r", "k", s, kStart + 249ms).allowed);
    RateLimitDecision later = limiter.decide("r", "k", s, kStart + 250ms);
    CHECK(later.allowed);
    CHECK(later.remaining == 0);
  }

  TEST_CASE("local: refill over time at requests per period") {
    LocalRateLimiter limiter;
    RateLimitSpec s = spec(10, 1s);  // T = 100 ms
    CHECK(allowedOf(limiter, "r", "k", s, kStart, 20) == 10);
    CHECK(allowedOf(limiter, "r", "k", s, kStart + 99ms, 5) == 0);
    CHECK(allowedOf(limiter, "r", "k", s, kStart + 100ms, 5) == 1);
    CHECK(allowedOf(limiter, "r", "k", s, kStart + 350ms, 5) == 2);  // 200 and 300 ms slots
    CHECK(allowedOf(limiter, "r", "k", s, kStart + 10s, 50) == 10);  // full again, no more
    // Steady trickle: one request every T always passes, forever.
    TimePoint t = kStart + 20s;
    allowedOf(limiter, "r", "k", s, t, 10);
    int passed = 0;
    for (int i = 1; i <= 1000; ++i) passed += limiter.decide("r", "k", s, t + i * 100ms).allowed ? 1 : 0;
    CHECK(passed == 1000);
    // Over a long span the count is capacity + elapsed / T.
    LocalRateLimiter fresh;
    int total = 0;
    for (int ms = 0; ms < 10'000; ++ms) total += fresh.decide("r", "k", s, kStart + ms * 1ms).allowed ? 1 : 0;
    CHECK(total == 10 + 99);  // 10 at once, then at 100, 200, ..., 9900 ms
  }

  TEST_CASE("local: different keys and different policy ids are independent") {
    LocalRateLimiter limiter;
    RateLimitSpec s = spec(3, 1s);
    CHECK(allowedOf(limiter, "route-a", "1.1.1.1", s, kStart, 10) == 3);
    CHECK(allowedOf(limiter, "route-a", "2.2.2.2", s, kStart, 10) == 3);
    CHECK(allowedOf(limiter, "route-b", "1.1.1.1", s, kStart, 10) == 3);
    // No ambiguity between (policy, key) splits of the same bytes.
    CHECK(allowedOf(limiter, "ab", "c", s, kStart, 10) == 3);
    CHECK(allowedOf(limiter, "a", "bc", s, kStart, 10) == 3);
    CHECK(limiter.size() == 5);
  }

  TEST_CASE("local: long keys are digested, stay distinct, and are still limited exactly") {
    LocalRateLimiter limiter;
    RateLimitSpec s = spec(2, 1s);
    std::string a(5000, 'a');
    std::string b = a;
    b.back() = 'b';
    CHECK(allowedOf(limiter, "r", a, s, kStart, 10) == 2);
    CHECK(allowedOf(limiter, "r", b, s, kStart, 10) == 2);
    CHECK(allowedOf(limiter, "r", a, s, kStart, 10) == 0);
    CHECK(limiter.size() == 2);
  }

  TEST_CASE("local: 8 threads on one key allow exactly requests + burst within frozen time") {
    LocalRateLimiter limiter;
    RateLimitSpec s = spec(1000, 1s, 234);
    std::atomic<int> allowed{0};
    std::atomic<bool> go{false};
    std::vector<std::thread> threads;
    for (int t = 0; t < 8; ++t) {
      threads.emplace_back([&] {
        while (!go.load()) std::this_thread::yield();
        int mine = 0;
        for (int i = 0; i < 5000; ++i) mine += limiter.decide("route", "hot", s, kStart).allowed ? 1 : 0;
        allowed += mine;
      });
    }
    go = true;
    for (auto& th : threads) th.join();
    CHECK(allowed.load() == 1234);
  }

  TEST_CASE("local: 8 threads over many keys: every key gets exactly its capacity") {
    LocalRateLimiter limiter;
    RateLimitSpec s = spec(5, 1s, 2);
    constexpr int kKeys = 500;
    std::vector<std::atomic<int>> perKey(kKeys);
    std::vector<std::thread> threads;
    for (int t = 0; t < 8; ++t) {
      threads.emplace_back([&, t] {
        for (int round = 0; round < 3; ++round)
          for (int k = 0; k < kKeys; ++k) {
            int key = (k + t * 61) % kKeys;
            if (limiter.decide("route", "client-" + std::to_string(key), s, kStart).allowed) perKey[key]++;
          }
      });
    }
    for (auto& th : threads) th.join();
    int wrong = 0;
    for (auto& c : perKey) wrong += c.load() == 7 ? 0 : 1;
    CHECK(wrong == 0);
  }

  TEST_CASE("local: a spec change keeps the used fraction of the bucket") {
    LocalRateLimiter limiter;
    // Use half of a 10-per-second bucket.
    CHECK(allowedOf(limiter, "r", "k", spec(10, 1s), kStart, 5) == 5);
    // Doubling the limit: half of 20 is left, not a fresh 20 and not only 5.
    CHECK(allowedOf(limiter, "r", "k", spec(20, 1s), kStart, 100) == 10);
    // Empty now; shrinking the limit keeps it empty, but only for the new spec's horizon.
    RateLimitDecision d = limiter.decide("r", "k", spec(2, 1s), kStart);
    CHECK_FALSE(d.allowed);
    CHECK(d.resetAfter <= 1s);
    CHECK(allowedOf(limiter, "r", "k", spec(2, 1s), kStart + 1s, 10) == 2);
    // The same spec again: no rescaling artefacts.
    CHECK(allowedOf(limiter, "r", "k", spec(2, 1s), kStart + 1s, 10) == 0);
  }

  TEST_CASE("local: requests == 0 denies, tiny and huge specs do not overflow") {
    LocalRateLimiter limiter;
    RateLimitDecision d = limiter.decide("r", "k", spec(0, 2s), kStart);
    CHECK_FALSE(d.allowed);
    CHECK(d.retryAfter == 2s);
    CHECK(limiter.size() == 0);
    // More requests than nanoseconds in the period: T is 1 ns.
    CHECK(allowedOf(limiter, "r", "fast", spec(5'000'000'000ULL, 1ms), kStart, 1000) == 1000);
    // Absurd burst saturates instead of wrapping around.
    CHECK(allowedOf(limiter, "r", "huge", spec(~0ULL, 1s, ~0ULL), kStart, 1000) == 1000);
    // A year-long period.
    CHECK(allowedOf(limiter, "r", "slow", spec(1, std::chrono::hours(24 * 365)), kStart, 3) == 1);
    CHECK(allowedOf(limiter, "r", "zero-period", spec(2, 0ms), kStart, 5) == 2);
  }

  TEST_CASE("local: sweep drops only buckets that are full again") {
    LocalRateLimiter limiter;
    RateLimitSpec s = spec(10, 1s);
    for (int i = 0; i < 100; ++i) limiter.decide("r", "k" + std::to_string(i), s, kStart);
    allowedOf(limiter, "r", "busy", s, kStart, 10);
    CHECK(limiter.size() == 101);
    CHECK(limiter.sweep(kStart + 50ms) == 0);
    CHECK(limiter.sweep(kStart + 100ms) == 100);  // one request: full again after T
    CHECK(limiter.size() == 1);
    CHECK(allowedOf(limiter, "r", "busy", s, kStart + 100ms, 10) == 1);  // state kept
    CHECK(limiter.sweep(kStart + 2s) == 1);
    CHECK(limiter.size() == 0);
  }

  TEST_CASE("local: memory is bounded by maxKeys, idle buckets go first") {
    LocalRateLimiterOptions options;
    options.maxKeys = 1024;
    options.shards = 8;
    LocalRateLimiter limiter(options);
    CHECK(limiter.maxKeys() == 1024);
    RateLimitSpec s = spec(10, 1s);
    for (int i = 0; i < 20'000; ++i) limiter.decide("r", "flood-" + std::to_string(i), s, kStart);
    CHECK(limiter.size() <= 1024);
    CHECK(limiter.size() >= 1024 / 2);
    // Later, when the flood's buckets are full again, new keys evict them losslessly, and a
    // busy key's state survives the churn.
    allowedOf(limiter, "r", "busy", s, kStart + 2s, 10);
    for (int i = 0; i < 5'000; ++i) limiter.decide("r", "later-" + std::to_string(i), s, kStart + 2s);
    CHECK(limiter.size() <= 1024);
    // Still limited: the busy bucket was empty and is not the idle one evicted first.
    int busyAllowed = allowedOf(limiter, "r", "busy", s, kStart + 2s, 10);
    CHECK(busyAllowed == 0);

    LocalRateLimiterOptions tiny;
    tiny.maxKeys = 3;
    LocalRateLimiter small(tiny);
    for (int i = 0; i < 100; ++i) small.decide("r", std::to_string(i), s, kStart);
    CHECK(small.size() <= 3);
  }

  TEST_CASE("headers: RateLimit-* and Retry-After values") {
    RateLimitDecision allowed;
    allowed.allowed = true;
    allowed.limit = 100;
    allowed.remaining = 42;
    allowed.resetAfter = 1500ms;
    auto h = renderRateLimitHeaders(allowed);
    CHECK(h.limit == "100");
    CHECK(h.remaining == "42");
    CHECK(h.reset == "2");
    CHECK(h.retryAfter.empty());
    auto list = h.list();
    REQUIRE(list.size() == 3);
    CHECK(list[0].first == "RateLimit-Limit");
    CHECK(list[1].first == "RateLimit-Remaining");
    CHECK(list[2].first == "RateLimit-Reset");

    RateLimitDecision denied;
    denied.allowed = false;
    denied.limit = 10;
    denied.remaining = 0;
    denied.resetAfter = 3s;
    denied.retryAfter = 1ms;
    h = renderRateLimitHeaders(denied);
    CHECK(h.reset == "3");
    CHECK(h.retryAfter == "1");  // rounded up
    denied.retryAfter = 0ns;
    CHECK(renderRateLimitHeaders(denied).retryAfter == "1");  // at least 1
    denied.retryAfter = 2001ms;
    CHECK(renderRateLimitHeaders(denied).retryAfter == "3");
    denied.retryAfter = 2s;
    CHECK(renderRateLimitHeaders(denied).retryAfter == "2");
    CHECK(renderRateLimitHeaders(denied).list().back().first == "Retry-After");

    RateLimitDecision unavailable;
    unavailable.allowed = false;
    unavailable.unavailable = true;
    CHECK(renderRateLimitHeaders(unavailable).list().empty());

    CHECK(ceilSeconds(0ns) == 0);
    CHECK(ceilSeconds(-5s) == 0);
    CHECK(ceilSeconds(1ns) == 1);
    CHECK(ceilSeconds(1s) == 1);
    CHECK(ceilSeconds(1s + 1ns) == 2);
  }

  TEST_CASE("headers: rendered from a real decision") {
    LocalRateLimiter limiter;
    RateLimitSpec s = spec(2, 10s);  // T = 5 s
    auto first = renderRateLimitHeaders(limiter.decide("r", "k", s, kStart));
    CHECK(first.remaining == "1");
    CHECK(first.reset == "5");
    limiter.decide("r", "k", s, kStart);
    auto denied = renderRateLimitHeaders(limiter.decide("r", "k", s, kStart + 1s));
    CHECK(denied.limit == "2");
    CHECK(denied.remaining == "0");
    CHECK(denied.reset == "9");
    CHECK(denied.retryAfter == "4");
  }
}
