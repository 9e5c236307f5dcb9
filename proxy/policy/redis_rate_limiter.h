// RedisRateLimiter: the global rate limiter for RateLimitSpec with global == true, shared by
// every Portico replica through one Redis server. Blocking; its non-blocking replacement for
// the workers is redis::AsyncRateLimiter (proxy/redis/async_rate_limiter.h). Both run the
// script and use the key scheme of redis_gcra.h, so they count into the same buckets.
//
// Algorithm: the same GCRA as LocalRateLimiter (see rate_limiter.h for the exact semantics:
// a fresh key allows requests + burst back-to-back, then requests per period), run
// atomically inside Redis by one Lua script per decision. The script reads the clock with
// redis.call('TIME'), so replicas whose clocks disagree still agree on every bucket, and it
// works in microseconds (T is rounded down to whole microseconds, at least 1 µs: at most
// one million requests per second per key). A bucket is the string key
//   portico:rl:<policyId>:<key>        (':', '#' and '%' in policyId percent-encoded)
//   portico:rl:<policyId>#<sha256 hex> (keys longer than 128 bytes, which are untrusted)
// holding "<TAT µs> <C*T µs>", written with SET ... PX so that it expires exactly when the
// bucket would be full again: idle keys vanish and cost Redis nothing. A spec change keeps
// the used fraction of a bucket, as locally. The script is loaded with SCRIPT LOAD on every
// new connection and run with EVALSHA; a NOSCRIPT answer (script cache flushed, failover)
// falls back to EVAL, which caches it again.
//
// Accuracy and cost, the trade-off to know:
//   - Exact across all replicas while Redis is reachable: every decision is one atomic
//     script run on the one server. No local caching or batching.
//   - One network round trip per request, made synchronously on the calling (worker)
//     thread, bounded by the timeouts: a decision takes at most about
//     connectTimeout + commandTimeout (a new connection also loads the script within the
//     command budget). Host names are resolved by getaddrinfo, which is not bounded:
//     configure an IP address or a name that resolves locally.
//   - When Redis is unreachable, times out or answers with an error, the decision is the
//     spec's failure mode: failOpen → allowed, otherwise denied; either way `unavailable` is
//     set (the proxy sends 503 for a denied-unavailable request). A fail-open window is
//     unlimited. After a failure no thread talks to Redis for `retryInterval`; then one
//     caller probes (reconnects) while the others keep answering `unavailable`, so a dead
//     Redis costs one connect attempt per retryInterval, not one per request.
//   - A connection that Redis closed (restart) is reconnected at once, once; if the server
//     ran a script but the answer was lost, that request may be counted twice.
//
// Threads: decide() may be called from any thread. Each calling thread gets its own
// connection (hiredis contexts are not thread-safe), kept in a small map keyed by thread
// id for the limiter's lifetime. SIGPIPE is blocked on the calling thread while it writes
// to Redis (and a resulting pending SIGPIPE is consumed), so a dead socket cannot kill the
// process even when the application has not ignored SIGPIPE.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>

#include "proxy/config/route_spec.h"
#include "proxy/policy/rate_limit_decision.h"

namespace portico::proxy::policy {

struct RedisRateLimiterOptions {
  std::string host = "127.0.0.1";  // IP address or locally resolvable name
  uint16_t port = 6379;
  std::string password;  // AUTH on connect when non-empty
  std::chrono::milliseconds connectTimeout{50};
  std::chrono::milliseconds commandTimeout{50};
  std::chrono::milliseconds retryInterval{500};  // no attempt this long after a failure
};

class RedisRateLimiter {
 public:
  explicit RedisRateLimiter(RedisRateLimiterOptions options);
  ~RedisRateLimiter();
  RedisRateLimiter(const RedisRateLimiter&) = delete;
  RedisRateLimiter& operator=(const RedisRateLimiter&) = delete;

  // Counts one request of `key` against the policy (policyId: the stable route name).
  // Never throws except std::bad_alloc; never blocks longer than the timeouts above.
  RateLimitDecision decide(std::string_view policyId, std::string_view key, const RateLimitSpec& spec);

  // False after a failure until a later request succeeds (for metrics and readiness).
  bool healthy() const { return retryAtNs_.load(std::memory_order_relaxed) == 0; }

  // The Redis key of a bucket (see above); exposed for tests and operators.
  static std::string redisKey(std::string_view policyId, std::string_view key);

  // The Lua script (for operators who want to inspect it).
  static const std::string& script();

 private:
  struct Connection;
  Connection& connectionForThisThread();
  RateLimitDecision unavailable(const RateLimitSpec& spec) const;
  void markFailure(const std::string& what);
  void markSuccess();

  const RedisRateLimiterOptions options_;
  std::mutex poolMutex_;
  std::unordered_map<std::thread::id, std::unique_ptr<Connection>> pool_;
  // 0: healthy. Otherwise the steady-clock time (ns) before which nobody tries Redis.
  std::atomic<int64_t> retryAtNs_{0};
};

}  // namespace portico::proxy::policy
