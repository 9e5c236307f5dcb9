// AsyncRateLimiter: the global (Redis) rate limiter of one worker, without blocking it.
//
// What it decides: the GCRA Lua script of proxy/policy/redis_gcra.h (semantics, key naming
// and expiry are described there), run atomically inside Redis on Redis's clock, buckets
// named by redis_gcra::bucketKey. Every limiter (each worker of each replica) counts into
// the same buckets. The script is loaded with SCRIPT LOAD on every new connection and run
// with EVALSHA; a NOSCRIPT answer (script cache flushed, failover) is retried once with
// EVAL. AUTH with the password comes first when one is configured.
//
// How: one limiter per worker, on that worker's io_context, used only from its thread (no
// mutex or atomic on the request path). It keeps one hiredis asynchronous connection
// (redisAsyncContext, driven by asio_event_adapter.h) and pipelines on it: decide() appends
// an EVALSHA to the connection's output buffer and returns; the replies come back in order
// and answer the decisions first in, first out. Many decisions are in flight at once on
// the one connection; a burst of decisions issued together is written with one write(2).
//
// Answers: `done(decision)` is called exactly once, on the worker thread, always from a
// handler posted to the io_context: never inside decide() and never inside hiredis's own
// callbacks, so `done` may do anything (resume a coroutine, decide again, destroy the
// limiter). Answers are posted in reply order. `done` must not be empty.
//   - Redis answered: the GCRA decision.
//   - Redis could not be asked (down, refused, timed out, error reply, AUTH failed), the
//     limiter is backing off, or too many decisions are in flight: the spec's failure mode,
//     failOpen → allowed, otherwise denied, with `unavailable` set (the proxy sends 503 for
//     a denied unavailable request).
//   - spec.requests == 0: denied without asking Redis.
//   - The limiter is destroyed with decisions in flight: each gets the failure mode,
//     posted to the io_context (so a waiting coroutine resumes if the io_context still
//     runs; if the io_context is destroyed instead, the posted answers are dropped with it,
//     like any other pending handler).
//
// Deadlines, all on one steady_timer per limiter (not one per decision): the timer is armed
// for the oldest pending decision and re-armed lazily when it fires.
//   - A decision is answered within commandTimeout of being written to an established
//     connection. One issued while the connection is being set up waits at most
//     connectTimeout for the connection, then commandTimeout. A reply that arrives after
//     its decision was answered is never read: see the next point.
//   - When the oldest decision times out (Redis hung, e.g. SIGSTOP, or the network
//     silently drops packets), the connection counts as failed: every pending decision is
//     answered with the failure mode at once, the connection is closed, and the limiter
//     backs off. So a hung Redis never accumulates an unbounded queue; in addition at most
//     maxInFlight decisions (default 10,000) are pending, beyond that the failure mode is
//     the answer at once.
//   - Backoff: after a failure (connect error or timeout, command timeout, AUTH or SCRIPT
//     LOAD error, error reply), decisions get the failure mode at once for retryInterval;
//     the first decision after it connects again (if the connection is down) or is sent on
//     the live connection, and the decisions that follow it are pipelined behind it. A dead
//     Redis costs one connect attempt per retryInterval.
//   - Redis closed a connection that had already served decisions (restart, idle timeout,
//     CLIENT KILL): the limiter reconnects at once, without backoff, and sends the decisions
//     that were in flight once more on the new connection. If the script ran but its reply
//     was lost, such a request is counted twice. If the new connection fails too, it is a
//     failure (backoff).
//
// Address (resolve_once.h): options.host is an IP address, or a name resolved ONCE, with
// getaddrinfo (which blocks), in the constructor; the first address is used for the
// limiter's lifetime. A name that does not resolve leaves the limiter failing every connect
// (logged). Configure an IP address or a name that resolves locally.
//
// SIGPIPE: hiredis writes with write(2), which raises SIGPIPE on a socket that Redis
// closed. The process ignores SIGPIPE (controller/main.cc); so that the limiter is safe in
// any process, the constructor also sets SIGPIPE to ignored if it still has the default
// disposition (process-wide; a handler someone installed is left alone).
//
// Costs per decision: one bucket-key string, one EVALSHA formatted into hiredis's output
// buffer, one entry in a deque, one post of the answer; no timer operation, no allocation
// for a small callback.
//
// Lifetime: construct, use and destroy on the io_context's thread; destroy it before its
// io_context.
//
// From a coroutine (Boost 1.74; the handler is move-only, which DecisionCallback accepts):
//   template <class Token>
//   auto asyncDecide(AsyncRateLimiter& limiter, std::string_view policyId, std::string_view key,
//                    const RateLimitSpec& spec, Token&& token) {
//     return boost::asio::async_initiate<Token, void(policy::RateLimitDecision)>(
//         [&limiter, policyId, key, &spec](auto handler) {
//           limiter.decide(policyId, key, spec, std::move(handler));
//         }, token);
//   }
//   policy::RateLimitDecision d = co_await asyncDecide(limiter, id, key, spec, use_awaitable);
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <string_view>

#include "proxy/config/route_spec.h"
#include "proxy/policy/rate_limit_decision.h"
#include "proxy/policy/redis_options.h"
#include "proxy/redis/decision_callback.h"

namespace boost::asio {
class io_context;
}

namespace portico::proxy::redis {

class AsyncRateLimiter {
 public:
  using Callback = DecisionCallback;  // void(policy::RateLimitDecision), move-only
  static constexpr size_t kDefaultMaxInFlight = 10'000;

  // Options (proxy/policy/redis_options.h): host, port, password, connectTimeout,
  // commandTimeout, retryInterval. Does not connect: the first decision does.
  AsyncRateLimiter(boost::asio::io_context& io, policy::RedisRateLimiterOptions options,
                   size_t maxInFlight = kDefaultMaxInFlight);
  ~AsyncRateLimiter();
  AsyncRateLimiter(const AsyncRateLimiter&) = delete;
  AsyncRateLimiter& operator=(const AsyncRateLimiter&) = delete;

  // Counts one request of `key` against the policy (policyId: the stable route name) and
  // calls `done` with the decision later, as described above. The arguments are copied as
  // needed: they may die when decide() returns. Never throws except std::bad_alloc.
  void decide(std::string_view policyId, std::string_view key, const RateLimitSpec& spec, Callback done);

  // False after a failure until a later decision succeeds (for metrics and readiness).
  bool healthy() const;

  // Decisions waiting for Redis right now (for metrics and tests).
  size_t inFlight() const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace portico::proxy::redis
