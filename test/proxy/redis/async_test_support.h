// Helpers for the AsyncRateLimiter tests: an io_context driven by the test thread, a
// recorder of answers (value, order, latency, never synchronous) and a lag probe that shows
// whether anything blocked the io_context's thread.
#pragma once

#include <doctest/doctest.h>

#include <algorithm>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <optional>
#include <string_view>
#include <vector>

#include "proxy/config/route_spec.h"
#include "proxy/policy/rate_limit_decision.h"
#include "proxy/policy/redis_options.h"
#include "proxy/redis/async_rate_limiter.h"

namespace portico::test {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using proxy::RateLimitSpec;
using proxy::policy::RateLimitDecision;
using proxy::redis::AsyncRateLimiter;

inline std::chrono::milliseconds millisSince(Clock::time_point start) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);
}

// The worker's event loop, run by the test thread in slices. The work guard keeps run_*
// from returning early when nothing is pending.
struct Loop {
  boost::asio::io_context io;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> guard{io.get_executor()};

  // Runs handlers until done() or the timeout; returns done().
  template <class Predicate>
  bool runUntil(Predicate done, std::chrono::milliseconds timeout = 5s) {
    const Clock::time_point until = Clock::now() + timeout;
    while (!done() && Clock::now() < until) io.run_one_until(std::min(until, Clock::now() + 10ms));
    return done();
  }

  void runFor(std::chrono::milliseconds duration) {
    const Clock::time_point until = Clock::now() + duration;
    while (Clock::now() < until) io.run_one_until(until);
  }
};

inline proxy::policy::RedisRateLimiterOptions limiterOptions(uint16_t port) {
  proxy::policy::RedisRateLimiterOptions o;
  o.host = "127.0.0.1";
  o.port = port;
  o.connectTimeout = 250ms;  // generous: the test machine is shared and slow
  o.commandTimeout = 250ms;
  o.retryInterval = 300ms;
  return o;
}

inline RateLimitSpec globalSpec(uint64_t requests, std::chrono::milliseconds period, uint64_t burst = 0,
                                bool failOpen = true) {
  RateLimitSpec s;
  s.requests = requests;
  s.period = period;
  s.burst = burst;
  s.global = true;
  s.failOpen = failOpen;
  return s;
}

// Issues decisions and records their answers by issue index.
struct Answers {
  std::vector<std::optional<RateLimitDecision>> decisions;
  std::vector<Clock::time_point> issuedAt;
  std::vector<Clock::time_point> answeredAt;
  std::vector<size_t> order;  // issue indexes in the order the answers came
  int synchronous = 0;        // answers given inside decide(): must stay 0
  int twice = 0;              // second answers to one decision: must stay 0
  bool inDecide = false;

  size_t issue(AsyncRateLimiter& limiter, std::string_view key, const RateLimitSpec& spec,
               std::string_view policy = "route") {
    const size_t index = decisions.size();
    decisions.emplace_back();
    issuedAt.push_back(Clock::now());
    answeredAt.emplace_back();
    inDecide = true;
    limiter.decide(policy, key, spec, [this, index](RateLimitDecision d) {
      if (inDecide) ++synchronous;
      if (decisions[index]) ++twice;
      decisions[index] = d;
      answeredAt[index] = Clock::now();
      order.push_back(index);
    });
    inDecide = false;
    return index;
  }

  size_t answered() const { return order.size(); }
  bool all() const { return order.size() == decisions.size(); }
  const RateLimitDecision& at(size_t index) const { return *decisions[index]; }
  std::chrono::milliseconds latency(size_t index) const {
    return std::chrono::duration_cast<std::chrono::milliseconds>(answeredAt[index] - issuedAt[index]);
  }
  int allowedCount() const {
    return static_cast<int>(
        std::count_if(decisions.begin(), decisions.end(), [](const auto& d) { return d && d->allowed; }));
  }
  int unavailableCount() const {
    return static_cast<int>(
        std::count_if(decisions.begin(), decisions.end(), [](const auto& d) { return d && d->unavailable; }));
  }
  bool inIssueOrder() const {
    for (size_t i = 0; i < order.size(); ++i)
      if (order[i] != i) return false;
    return true;
  }
  bool clean() const { return synchronous == 0 && twice == 0; }
};

// One decision, waited for.
inline RateLimitDecision decideAndWait(Loop& loop, AsyncRateLimiter& limiter, std::string_view key,
                                       const RateLimitSpec& spec, std::string_view policy = "route") {
  Answers answers;
  answers.issue(limiter, key, spec, policy);
  REQUIRE(loop.runUntil([&] { return answers.all(); }));
  REQUIRE(answers.clean());
  return answers.at(0);
}

// Allowed count of `n` decisions made one after the other; each must have reached Redis.
inline int allowedOneByOne(Loop& loop, AsyncRateLimiter& limiter, std::string_view key, const RateLimitSpec& spec,
                           int n) {
  int allowed = 0;
  for (int i = 0; i < n; ++i) {
    RateLimitDecision d = decideAndWait(loop, limiter, key, spec);
    CHECK_FALSE(d.unavailable);
    allowed += d.allowed ? 1 : 0;
  }
  return allowed;
}

// A 1 ms periodic timer on the loop; records how late it fired at worst. Anything that
// blocks the loop's thread shows up as lag.
class LagProbe {
 public:
  explicit LagProbe(boost::asio::io_context& io) : timer_(io) {}
  ~LagProbe() { stop(); }

  void start() {
    running_ = true;
    arm(Clock::now() + 1ms);
  }
  void stop() {
    running_ = false;
    timer_.cancel();
  }
  std::chrono::milliseconds maxLag() const { return std::chrono::duration_cast<std::chrono::milliseconds>(maxLag_); }
  int ticks() const { return ticks_; }

 private:
  void arm(Clock::time_point when) {
    timer_.expires_at(when);
    timer_.async_wait([this, when](const boost::system::error_code& ec) {
      if (ec || !running_) return;
      const Clock::time_point now = Clock::now();
      maxLag_ = std::max(maxLag_, now - when);
      ++ticks_;
      arm(now + 1ms);
    });
  }

  boost::asio::steady_timer timer_;
  bool running_ = false;
  Clock::duration maxLag_{};
  int ticks_ = 0;
};

}  // namespace portico::test
