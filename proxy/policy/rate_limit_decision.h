// The answer of a rate limiter (LocalRateLimiter, redis::AsyncRateLimiter) and the response
// headers the proxy derives from it.
//
// Headers: "RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset" (the IETF httpapi
// draft's names, on allowed and denied responses), and "Retry-After" on a 429. Seconds are
// whole and rounded up, so a client that waits the advertised time is never early; a
// Retry-After is at least 1.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace portico::proxy::policy {

struct RateLimitDecision {
  bool allowed = true;
  // Global mode only: Redis could not be asked (down, timed out, backing off, error reply).
  // `allowed` is then the spec's failure mode (failOpen), and the counters below are zero.
  // The proxy answers a denied-and-unavailable request with 503, not 429.
  bool unavailable = false;
  uint64_t limit = 0;      // RateLimitSpec::requests: the steady number of requests per period
  uint64_t remaining = 0;  // requests that would still pass right now, after this one;
                           // with a burst this can exceed `limit` (up to requests + burst - 1)
  std::chrono::nanoseconds resetAfter{0};  // until the bucket is full again (fresh-key state)
  std::chrono::nanoseconds retryAfter{0};  // denied: until one request would pass; else 0
};

struct RateLimitHeaders {
  std::string limit;       // RateLimit-Limit
  std::string remaining;   // RateLimit-Remaining
  std::string reset;       // RateLimit-Reset: whole seconds, rounded up
  std::string retryAfter;  // Retry-After: whole seconds, rounded up, >= 1; empty when allowed

  // (name, value) pairs in the order above, Retry-After only when set.
  std::vector<std::pair<std::string_view, std::string>> list() const;
};

// Empty strings everywhere when the decision is `unavailable` (nothing is known then), except
// that a denied unavailable decision has no Retry-After either: the proxy sends 503.
RateLimitHeaders renderRateLimitHeaders(const RateLimitDecision& decision);

// Whole seconds, rounded up; negative durations count as 0.
uint64_t ceilSeconds(std::chrono::nanoseconds duration);

}  // namespace portico::proxy::policy
