// AsyncRateLimiter against a real redis-server (started by each test on a free port): the
// decisions themselves, pipelining, NOSCRIPT, AUTH, the in-flight cap and destruction.
// Failure modes and deadlines are in async_rate_limiter_failure_tests.cc; the buckets in
// Redis (key names, sharing, expiry, spec changes) in async_rate_limiter_bucket_tests.cc.
#include "proxy/redis/async_rate_limiter.h"

#include <doctest/doctest.h>
#include <hiredis/hiredis.h>

#include <boost/asio/async_result.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <memory>
#include <string>

#include "test/proxy/redis/async_test_support.h"
#include "test/proxy/redis/redis_test_server.h"

using namespace portico::test;
using portico::proxy::policy::renderRateLimitHeaders;

namespace {

// Clients connected to the server, from INFO (the query's own connection included).
int connectedClients(const RedisServer& server) {
  redisReply* r = server.run({"INFO", "clients"});
  REQUIRE(r != nullptr);
  REQUIRE(r->type == REDIS_REPLY_STRING);
  std::string info(r->str, r->len);
  freeReplyObject(r);
  const std::string field = "connected_clients:";
  size_t at = info.find(field);
  REQUIRE(at != std::string::npos);
  return std::stoi(info.substr(at + field.size()));
}

// The recipe of the header's "From a coroutine" paragraph.
template <class Token>
auto asyncDecide(AsyncRateLimiter& limiter, std::string_view policyId, std::string_view key, const RateLimitSpec& spec,
                 Token&& token) {
  return boost::asio::async_initiate<Token, void(RateLimitDecision)>(
      [&limiter, policyId, key, &spec](auto handler) { limiter.decide(policyId, key, spec, std::move(handler)); },
      token);
}

}  // namespace

TEST_SUITE("redis_async") {
  TEST_CASE("async redis: exact limit for one key, decision fields and headers") {
    RedisServer server;
    Loop loop;
    AsyncRateLimiter limiter(loop.io, limiterOptions(server.port()));
    RateLimitSpec s = globalSpec(10, 60s);  // T = 6 s: no refill during the test
    for (uint64_t i = 0; i < 10; ++i) {
      RateLimitDecision d = decideAndWait(loop, limiter, "client", s);
      REQUIRE_FALSE(d.unavailable);
      CHECK(d.allowed);
      CHECK(d.limit == 10);
      CHECK(d.remaining == 9 - i);
    }
    for (int i = 0; i < 20; ++i) {
      RateLimitDecision d = decideAndWait(loop, limiter, "client", s);
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
    CHECK(limiter.inFlight() == 0);
    // Another key and another policy are independent; burst adds head-room.
    CHECK(allowedOneByOne(loop, limiter, "other", s, 15) == 10);
    CHECK(decideAndWait(loop, limiter, "client", s, "route-2").allowed);
    CHECK(allowedOneByOne(loop, limiter, "bursty", globalSpec(5, 60s, 3), 20) == 8);
    CHECK(server.integer({"EXISTS", "portico:rl:route:client"}) == 1);
  }

  TEST_CASE("async redis: 200 decisions issued at once are pipelined on one connection, answered in order") {
    RedisServer server;
    Loop loop;
    AsyncRateLimiter limiter(loop.io, limiterOptions(server.port()));
    Answers answers;
    for (int i = 0; i < 200; ++i) answers.issue(limiter, "burst", globalSpec(50, 60s, 10));
    CHECK(answers.answered() == 0);  // nothing is answered inside decide()
    CHECK(limiter.inFlight() == 200);
    REQUIRE(loop.runUntil([&] { return answers.all(); }));
    CHECK(answers.clean());
    CHECK(answers.inIssueOrder());
    CHECK(answers.unavailableCount() == 0);
    CHECK(answers.allowedCount() == 60);  // requests + burst, then none
    for (size_t i = 0; i < 200; ++i) CHECK(answers.at(i).allowed == (i < 60));
    CHECK(limiter.inFlight() == 0);

    // Interleaved keys on the live connection; still one connection (plus INFO's own).
    Answers mixed;
    for (int i = 0; i < 200; ++i) mixed.issue(limiter, i % 2 ? "odd" : "even", globalSpec(30, 60s));
    REQUIRE(loop.runUntil([&] { return mixed.all(); }));
    CHECK(mixed.clean());
    CHECK(mixed.inIssueOrder());
    CHECK(mixed.unavailableCount() == 0);
    CHECK(mixed.allowedCount() == 60);
    CHECK(connectedClients(server) == 2);
  }

  TEST_CASE("async redis: a flushed script cache falls back to EVAL for every decision in flight") {
    RedisServer server;
    Loop loop;
    AsyncRateLimiter limiter(loop.io, limiterOptions(server.port()));
    RateLimitSpec s = globalSpec(3, 60s);
    CHECK(allowedOneByOne(loop, limiter, "k", s, 1) == 1);
    redisReply* r = server.run({"SCRIPT", "FLUSH"});
    REQUIRE(r != nullptr);
    freeReplyObject(r);
    Answers answers;
    for (int i = 0; i < 5; ++i) answers.issue(limiter, "k", s);
    REQUIRE(loop.runUntil([&] { return answers.all(); }));
    CHECK(answers.clean());
    CHECK(answers.unavailableCount() == 0);
    CHECK(answers.allowedCount() == 2);
    CHECK(answers.inIssueOrder());
    CHECK(limiter.healthy());
    // EVAL cached the script again: EVALSHA works on the same connection.
    CHECK(allowedOneByOne(loop, limiter, "fresh", s, 4) == 3);
  }

  TEST_CASE("async redis: AUTH with the right password; wrong or missing password is a failure") {
    RedisServer server("s3cret");
    Loop loop;
    auto withPassword = [&](std::string password) {
      auto o = limiterOptions(server.port());
      o.password = std::move(password);
      return o;
    };
    AsyncRateLimiter right(loop.io, withPassword("s3cret"));
    CHECK(allowedOneByOne(loop, right, "k", globalSpec(5, 60s), 3) == 3);
    CHECK(right.healthy());

    AsyncRateLimiter wrong(loop.io, withPassword("nope"));
    RateLimitDecision d = decideAndWait(loop, wrong, "k", globalSpec(5, 60s, 0, false));
    CHECK(d.unavailable);
    CHECK_FALSE(d.allowed);
    CHECK_FALSE(wrong.healthy());

    AsyncRateLimiter none(loop.io, withPassword(""));
    d = decideAndWait(loop, none, "k", globalSpec(5, 60s, 0, true));
    CHECK(d.unavailable);
    CHECK(d.allowed);
    CHECK_FALSE(none.healthy());
  }

  TEST_CASE("async redis: beyond maxInFlight the failure mode is the answer, at once") {
    RedisServer server;
    Loop loop;
    AsyncRateLimiter limiter(loop.io, limiterOptions(server.port()), /*maxInFlight=*/50);
    Answers answers;
    for (int i = 0; i < 60; ++i) answers.issue(limiter, "k", globalSpec(100, 60s, 0, false));
    CHECK(limiter.inFlight() == 50);
    REQUIRE(loop.runUntil([&] { return answers.all(); }));
    CHECK(answers.clean());
    for (size_t i = 0; i < 60; ++i) {
      CHECK(answers.at(i).unavailable == (i >= 50));
      CHECK(answers.at(i).allowed == (i < 50));
    }
    CHECK(limiter.healthy());  // overload is not a Redis failure
  }

  TEST_CASE("async redis: destroying the limiter answers the decisions in flight") {
    RedisServer server;
    Loop loop;
    auto limiter = std::make_unique<AsyncRateLimiter>(loop.io, limiterOptions(server.port()));
    Answers answers;
    for (int i = 0; i < 10; ++i) answers.issue(*limiter, "k", globalSpec(100, 60s, 0, i % 2 == 0));
    limiter.reset();
    CHECK(answers.answered() == 0);  // posted, not called from the destructor
    REQUIRE(loop.runUntil([&] { return answers.all(); }));
    CHECK(answers.clean());
    for (size_t i = 0; i < 10; ++i) {
      CHECK(answers.at(i).unavailable);
      CHECK(answers.at(i).allowed == (i % 2 == 0));
    }
  }

  TEST_CASE("async redis: a done callback may destroy the limiter") {
    RedisServer server;
    Loop loop;
    auto limiter = std::make_unique<AsyncRateLimiter>(loop.io, limiterOptions(server.port()));
    int answered = 0;
    for (int i = 0; i < 5; ++i)
      limiter->decide("route", "k", globalSpec(100, 60s), [&](RateLimitDecision d) {
        // The others were answered already (replies read in one go) or, still in flight,
        // get the failure mode from the destructor: either way exactly once.
        if (++answered == 1) CHECK_FALSE(d.unavailable);
        limiter.reset();
      });
    REQUIRE(loop.runUntil([&] { return answered == 5; }));
    loop.runFor(50ms);
    CHECK(answered == 5);
    CHECK_FALSE(limiter);
  }

  TEST_CASE("async redis: usable from a coroutine through async_initiate (use_awaitable)") {
    RedisServer server;
    Loop loop;
    AsyncRateLimiter limiter(loop.io, limiterOptions(server.port()));
    const RateLimitSpec spec = globalSpec(3, 60s);
    int allowed = 0;
    int unavailable = 0;
    bool finished = false;
    auto body = [&]() -> boost::asio::awaitable<void> {
      for (int i = 0; i < 5; ++i) {
        RateLimitDecision d = co_await asyncDecide(limiter, "route", "coroutine", spec, boost::asio::use_awaitable);
        allowed += d.allowed ? 1 : 0;
        unavailable += d.unavailable ? 1 : 0;
      }
      finished = true;
    };
    boost::asio::co_spawn(loop.io, body, boost::asio::detached);
    REQUIRE(loop.runUntil([&] { return finished; }));
    CHECK(allowed == 3);
    CHECK(unavailable == 0);
  }

  TEST_CASE("async redis: requests == 0 denies without asking Redis, still not synchronously") {
    Loop loop;
    AsyncRateLimiter limiter(loop.io, limiterOptions(freePort()));
    RateLimitDecision d = decideAndWait(loop, limiter, "k", globalSpec(0, 1s));
    CHECK_FALSE(d.allowed);
    CHECK_FALSE(d.unavailable);
    CHECK(d.retryAfter == 1s);
    CHECK(limiter.healthy());
  }

  TEST_CASE("async redis: a host name is resolved once") {
    RedisServer server;
    Loop loop;
    auto o = limiterOptions(server.port());
    o.host = "localhost";
    AsyncRateLimiter limiter(loop.io, o);
    RateLimitDecision d = decideAndWait(loop, limiter, "k", globalSpec(5, 60s));
    CHECK_FALSE(d.unavailable);
    CHECK(d.allowed);
  }
}
