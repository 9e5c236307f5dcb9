// LocalRateLimiter: the process-wide rate limiter for RateLimitSpec with global == false.
//
// Algorithm: GCRA (generic cell rate algorithm), a token bucket stored as one timestamp.
//   T (emission interval) = period / requests     (nanoseconds, rounded down, at least 1 ns)
//   C (capacity)          = requests + burst
//   TAT (theoretical arrival time) per key; a fresh key has TAT <= now.
//   A request at `now` is allowed iff max(TAT, now) + T - now <= C * T; then TAT becomes
//   max(TAT, now) + T. A denied request changes nothing.
// Semantics, exactly enforced:
//   - a fresh (or fully rested) key allows exactly `requests + burst` back-to-back requests;
//   - after that, one request per T, i.e. `requests` per `period` in the long run;
//   - in any interval of length d, at most C + floor(d / T) requests pass.
//   So burst == 0 means "`requests` at once, refilled at `requests` per `period`", and burst
//   is the extra head-room on top of that. A spec with requests == 0 denies everything
//   (retryAfter = period); a period below 1 ms counts as 1 ms.
//
// Buckets are keyed by (policyId, key). policyId is a stable name (the route name), so the
// state survives routing-table swaps. If the spec of a policy changes, the fill level of
// each bucket carries over as a fraction of the capacity (half used stays half used), so a
// swap neither resets the limit nor locks clients out for longer than the new spec allows.
//
// Threads: decide() may be called from any thread. The map is split into shards, each with
// its own mutex; a decision holds one shard lock for a hash lookup and a few arithmetic
// operations, so counts are exact under any concurrency (no lost updates). An existing key
// costs no allocation: the hash is computed once, and the lookup is heterogeneous. Keys
// longer than 128 bytes (header values, claims: untrusted) are replaced by their SHA-256,
// so stored keys are bounded in size.
//
// Memory: at most `maxKeys` buckets (default 1,000,000), each shard at most its share.
// A bucket whose TAT <= now equals a fresh bucket and is dropped without any loss by
// sweep() (the proxy calls it periodically, e.g. every 10 s) and whenever a new key finds
// its shard full. If a shard is full of active buckets (a key-flooding client), the 1/16 of
// them closest to full are forgotten; those keys get a fresh bucket, i.e. the limiter is
// lenient by at most their used part, but memory stays bounded and new clients are served.
//
// Time is a parameter (steady_clock) so that tests control it. Never throws except
// std::bad_alloc on insertion.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>

#include "proxy/config/route_spec.h"
#include "proxy/policy/rate_limit_decision.h"

namespace portico::proxy::policy {

struct LocalRateLimiterOptions {
  size_t maxKeys = 1'000'000;
  size_t shards = 64;  // rounded up to a power of two; at least 1
};

class LocalRateLimiter {
 public:
  using Clock = std::chrono::steady_clock;

  LocalRateLimiter();
  explicit LocalRateLimiter(const LocalRateLimiterOptions& options);
  ~LocalRateLimiter();
  LocalRateLimiter(const LocalRateLimiter&) = delete;
  LocalRateLimiter& operator=(const LocalRateLimiter&) = delete;

  // Counts one request of `key` against the policy and says whether it may pass.
  RateLimitDecision decide(std::string_view policyId, std::string_view key, const RateLimitSpec& spec,
                           Clock::time_point now);
  // The same at Clock::now().
  RateLimitDecision decide(std::string_view policyId, std::string_view key, const RateLimitSpec& spec) {
    return decide(policyId, key, spec, Clock::now());
  }

  // Drops every bucket that is full again at `now` (lossless). Returns how many.
  size_t sweep(Clock::time_point now);

  // Buckets currently stored (takes every shard lock; for metrics and tests).
  size_t size() const;
  size_t maxKeys() const;

 private:
  struct Shard;
  std::unique_ptr<Shard[]> shards_;
  size_t shardCount_;
  size_t perShardLimit_;
  size_t maxKeys_;
  uint64_t hashKey0_;  // SipHash key, random per limiter
  uint64_t hashKey1_;
};

// The GCRA parameters for a spec (shared with the Redis script, redis_gcra.h, in microseconds).
struct GcraParameters {
  int64_t emissionInterval;  // T, in the caller's unit, >= 1
  int64_t window;            // C * T (saturated), >= T
  uint64_t capacity;         // C = requests + burst (saturated)
};
// `unitsPerMillisecond`: 1'000'000 for nanoseconds, 1'000 for microseconds. `maxWindow`
// caps C * T (and so the state's horizon); requests == 0 is the caller's business.
GcraParameters gcraParameters(const RateLimitSpec& spec, int64_t unitsPerMillisecond, int64_t maxWindow);

}  // namespace portico::proxy::policy
