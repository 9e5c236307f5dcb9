// AsyncRateLimiter's buckets as they are in a real redis-server (started by each test on a
// free port): their names, one bucket shared by several limiters (replicas, workers), expiry
// and refill over time, and a spec change that keeps the used fraction.
//
// Timing: the refill test lets one emission interval (1 s) pass and leaves 500 ms of slack
// on either side; decisions whose count must not be blurred by a refill are issued together
// (pipelined, so Redis runs them back to back). Tests that are not about deadlines use
// command timeouts of seconds, so that a busy machine cannot turn a decision unavailable.
#include <doctest/doctest.h>
#include <hiredis/hiredis.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "proxy/policy/redis_gcra.h"
#include "proxy/policy/sha256.h"
#include "proxy/redis/async_rate_limiter.h"
#include "test/proxy/redis/async_test_support.h"
#include "test/proxy/redis/redis_test_server.h"

using namespace portico::test;
namespace gcra = portico::proxy::policy::redis_gcra;

namespace {

// Timeouts nobody reaches when Redis is up, even on a starved machine.
portico::proxy::policy::RedisRateLimiterOptions patientOptions(uint16_t port) {
  auto o = limiterOptions(port);
  o.connectTimeout = 3s;
  o.commandTimeout = 3s;
  return o;
}

// The bucket keys in Redis, sorted.
std::vector<std::string> bucketKeys(const RedisServer& server) {
  redisReply* r = server.run({"KEYS", "portico:rl:*"});
  REQUIRE(r != nullptr);
  REQUIRE(r->type == REDIS_REPLY_ARRAY);
  std::vector<std::string> keys;
  for (size_t i = 0; i < r->elements; ++i) keys.emplace_back(r->element[i]->str, r->element[i]->len);
  freeReplyObject(r);
  std::sort(keys.begin(), keys.end());
  return keys;
}

std::string stringValue(const RedisServer& server, const std::string& key) {
  redisReply* r = server.run({"GET", key});
  REQUIRE(r != nullptr);
  REQUIRE(r->type == REDIS_REPLY_STRING);
  std::string value(r->str, r->len);
  freeReplyObject(r);
  return value;
}

std::string hex(const portico::proxy::policy::Sha256Digest& digest) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char b : digest) {
    out += kHex[b >> 4];
    out += kHex[b & 15];
  }
  return out;
}

// `n` decisions issued together and waited for; returns how many were allowed. Redis runs
// them back to back, so no refill happens in between however busy the machine is.
int allowedTogether(Loop& loop, AsyncRateLimiter& limiter, std::string_view key, const RateLimitSpec& spec, int n,
                    std::string_view policy = "route") {
  Answers answers;
  for (int i = 0; i < n; ++i) answers.issue(limiter, key, spec, policy);
  REQUIRE(loop.runUntil([&] { return answers.all(); }, 10s));
  CHECK(answers.clean());
  CHECK(answers.unavailableCount() == 0);
  return answers.allowedCount();
}

}  // namespace

TEST_SUITE("redis_async_buckets") {
  TEST_CASE("async redis: bucket keys are namespaced, escaped and bounded") {
    // The scheme itself (what operators and other replicas rely on).
    CHECK(gcra::bucketKey("ns/route/0", "10.0.0.1") == "portico:rl:ns/route/0:10.0.0.1");
    CHECK(gcra::bucketKey("ns/route/0", "2001:db8::1") == "portico:rl:ns/route/0:2001:db8::1");
    CHECK(gcra::bucketKey("a:b", "c") == "portico:rl:a%3Ab:c");
    CHECK(gcra::bucketKey("a", "b:c") == "portico:rl:a:b:c");
    CHECK(gcra::bucketKey("100%#", "k") == "portico:rl:100%25%23:k");

    // And the keys the limiter really writes.
    RedisServer server;
    Loop loop;
    AsyncRateLimiter limiter(loop.io, patientOptions(server.port()));
    const RateLimitSpec s = globalSpec(10, 60s);
    const std::string longKey(500, 'x');
    const std::string key128(128, 'z');  // the longest key kept as it is
    struct Use {
      std::string policy, key;
    };
    const std::vector<Use> uses = {{"ns/route/0", "10.0.0.1"}, {"ns/route/0", "2001:db8::1"}, {"a:b", "c"},
                                   {"a", "b:c"},               {"100%#", "k"},                {"r", longKey},
                                   {"r", longKey + "y"},       {"r", key128}};
    for (const Use& u : uses) CHECK(allowedTogether(loop, limiter, u.key, s, 1, u.policy) == 1);

    std::vector<std::string> expected = {"portico:rl:ns/route/0:10.0.0.1",
                                         "portico:rl:ns/route/0:2001:db8::1",
                                         "portico:rl:a%3Ab:c",
                                         "portico:rl:a:b:c",
                                         "portico:rl:100%25%23:k",
                                         "portico:rl:r#" + hex(portico::proxy::policy::sha256(longKey)),
                                         "portico:rl:r#" + hex(portico::proxy::policy::sha256(longKey + "y")),
                                         "portico:rl:r:" + key128};
    std::sort(expected.begin(), expected.end());
    CHECK(bucketKeys(server) == expected);

    // "<TAT µs> <C*T µs>": one request of 10 per 60 s spent, so C*T is 60 s.
    const std::string value = stringValue(server, "portico:rl:a:b:c");
    CHECK(std::regex_match(value, std::regex("[0-9]+ 60000000")));
    // Distinct policies and keys are distinct buckets: each still has 9 left.
    CHECK(allowedTogether(loop, limiter, "b:c", s, 12, "a") == 9);
    CHECK(allowedTogether(loop, limiter, "c", s, 12, "a:b") == 9);
  }

  TEST_CASE("async redis: two limiters on one Redis (two replicas) share one limit") {
    RedisServer server;
    Loop loop;
    AsyncRateLimiter a(loop.io, patientOptions(server.port()));
    AsyncRateLimiter b(loop.io, patientOptions(server.port()));
    const RateLimitSpec s = globalSpec(20, 600s, 5);  // T = 30 s: no refill during the test
    int allowed = 0;
    for (int i = 0; i < 40; ++i) {
      RateLimitDecision fromA = decideAndWait(loop, a, "shared", s);
      RateLimitDecision fromB = decideAndWait(loop, b, "shared", s);
      CHECK_FALSE(fromA.unavailable);
      CHECK_FALSE(fromB.unavailable);
      allowed += (fromA.allowed ? 1 : 0) + (fromB.allowed ? 1 : 0);
      // Each sees what the other spent.
      if (i < 12) CHECK(fromB.remaining + 1 == fromA.remaining);
    }
    CHECK(allowed == 25);  // requests + burst, for both together
    CHECK(bucketKeys(server) == std::vector<std::string>{"portico:rl:route:shared"});
  }

  TEST_CASE("async redis: limiters of four workers (threads, own io_context each) share one limit") {
    RedisServer server;
    const RateLimitSpec s = globalSpec(20, 600s, 5);  // T = 30 s
    constexpr int kWorkers = 4;
    constexpr int kEach = 30;
    struct Result {
      bool finished = false;
      bool clean = false;
      int allowed = 0;
      int unavailable = 0;
    };
    std::vector<Result> results(kWorkers);
    std::atomic<int> ready{0};
    std::vector<std::thread> workers;
    for (int w = 0; w < kWorkers; ++w) {
      workers.emplace_back([&, w] {
        // Constructed, used and destroyed on this thread, as a worker does.
        Loop loop;
        AsyncRateLimiter limiter(loop.io, patientOptions(server.port()));
        ++ready;
        while (ready.load() < kWorkers) std::this_thread::yield();
        Answers answers;
        for (int i = 0; i < kEach; ++i) {
          answers.issue(limiter, "threads", s);
          if (i % 5 == 4) loop.io.poll();  // let the writes of the workers interleave
        }
        results[w].finished = loop.runUntil([&] { return answers.all(); }, 20s);
        results[w].clean = answers.clean();
        results[w].allowed = answers.allowedCount();
        results[w].unavailable = answers.unavailableCount();
      });
    }
    for (auto& t : workers) t.join();
    int allowed = 0;
    for (const Result& r : results) {
      CHECK(r.finished);
      CHECK(r.clean);
      CHECK(r.unavailable == 0);
      allowed += r.allowed;
    }
    CHECK(allowed == 25);
  }

  TEST_CASE("async redis: buckets expire when full again; refill over time") {
    RedisServer server;
    Loop loop;
    AsyncRateLimiter limiter(loop.io, patientOptions(server.port()));
    const RateLimitSpec s = globalSpec(2, 2s);  // T = 1 s, C*T = 2 s
    const std::string key = "portico:rl:route:k";

    CHECK(allowedTogether(loop, limiter, "k", s, 5) == 2);
    const Clock::time_point spent = Clock::now();  // after Redis ran the decisions
    CHECK(server.integer({"EXISTS", key}) == 1);
    long long pttl = server.integer({"PTTL", key});
    CHECK(pttl > 0);
    CHECK(pttl <= 2000);  // expires when the bucket is full again, not later

    // One emission interval later (1.5 s after, so 0.5 s of slack either way): one request.
    std::this_thread::sleep_until(spent + 1500ms);
    Answers refill;
    for (int i = 0; i < 5; ++i) refill.issue(limiter, "k", s);
    REQUIRE(loop.runUntil([&] { return refill.all(); }, 10s));
    CHECK(refill.clean());
    CHECK(refill.unavailableCount() == 0);
    CHECK(refill.allowedCount() == 1);
    REQUIRE(refill.at(0).allowed);
    // The key lives exactly as long as the bucket needs to be full again: the decision's
    // resetAfter, less the time since it was issued.
    const auto resetMs = std::chrono::duration_cast<std::chrono::milliseconds>(refill.at(0).resetAfter);
    CHECK(resetMs > 1000ms);  // more than one T: the whole bucket state, not a single slot
    CHECK(resetMs <= 2000ms);
    pttl = server.integer({"PTTL", key});
    CHECK(pttl > 0);
    CHECK(pttl <= resetMs.count() + 1);
    CHECK(pttl >= resetMs.count() - millisSince(refill.issuedAt[0]).count() - 1);

    // The key vanishes by itself once the bucket is full again...
    const Clock::time_point until = Clock::now() + 5s;
    while (server.integer({"EXISTS", key}) == 1 && Clock::now() < until) std::this_thread::sleep_for(20ms);
    CHECK(server.integer({"EXISTS", key}) == 0);
    CHECK(bucketKeys(server).empty());
    // ...and the key is fresh again: requests + burst at once.
    CHECK(allowedTogether(loop, limiter, "k", s, 5) == 2);
  }

  TEST_CASE("async redis: a spec change keeps the used fraction") {
    RedisServer server;
    Loop loop;
    AsyncRateLimiter limiter(loop.io, patientOptions(server.port()));
    // Same window (60 s), twice the rate: half used stays half used.
    CHECK(allowedTogether(loop, limiter, "rate", globalSpec(10, 60s), 5) == 5);
    CHECK(allowedTogether(loop, limiter, "rate", globalSpec(20, 60s), 30) == 10);
    // A smaller burst (window 120 s -> 60 s): half of the new window is left, 5 of 10.
    CHECK(allowedTogether(loop, limiter, "burst", globalSpec(10, 60s, 10), 10) == 10);
    CHECK(allowedTogether(loop, limiter, "burst", globalSpec(10, 60s, 0), 20) == 5);
    // A longer period (window 60 s -> 240 s): a quarter used, 15 of 20 left.
    CHECK(allowedTogether(loop, limiter, "period", globalSpec(20, 60s), 5) == 5);
    CHECK(allowedTogether(loop, limiter, "period", globalSpec(20, 240s), 30) == 15);
    // Back to the first spec on a full bucket: still full.
    CHECK(allowedTogether(loop, limiter, "rate", globalSpec(10, 60s), 5) == 0);
  }
}
