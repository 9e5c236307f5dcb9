// The Redis side of global rate limits: the Lua script, the key scheme and the reply format
// that redis::AsyncRateLimiter (proxy/redis/async_rate_limiter.h, one per worker) uses.
// Every replica runs the same script on the same keys, so all of them count into the same
// buckets.
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
// the used fraction of a bucket, as locally.
//
// Accuracy: exact across all replicas while Redis is reachable: every decision is one
// atomic script run on the one server, with no local caching or batching. When Redis
// cannot be asked, the decision is the spec's failure mode (unavailableDecision).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "proxy/config/route_spec.h"
#include "proxy/policy/rate_limit_decision.h"

struct redisReply;  // hiredis

namespace portico::proxy::policy::redis_gcra {

// The Lua script: KEYS[1] the bucket, ARGV[1] T in µs, ARGV[2] C*T in µs; returns
// {allowed 0/1, remaining, resetAfter µs, retryAfter µs}.
const std::string& script();

// Lowercase hex SHA-1 of script(): what SCRIPT LOAD answers and what EVALSHA takes. Known
// locally, so EVALSHA can be pipelined right behind SCRIPT LOAD without waiting for it.
const std::string& scriptSha1();

// The Redis key of the bucket of `key` under `policyId` (see above).
std::string bucketKey(std::string_view policyId, std::string_view key);

// ARGV[1] and ARGV[2] of the script for a spec with requests > 0.
struct ScriptArguments {
  std::string emissionIntervalUs;
  std::string windowUs;
};
ScriptArguments scriptArguments(const RateLimitSpec& spec);

// The answer to a spec with requests == 0, which denies everything without asking Redis.
RateLimitDecision zeroRequestsDecision(const RateLimitSpec& spec);

// The answer when Redis could not be asked: the spec's failure mode, flagged unavailable.
RateLimitDecision unavailableDecision(bool failOpen, uint64_t limit);

// Reads the script's reply. False, with `error` describing the reply, when it is an error
// reply or not the expected shape; `out` is then unspecified.
bool decisionFromReply(const redisReply& reply, uint64_t limit, RateLimitDecision& out, std::string& error);

}  // namespace portico::proxy::policy::redis_gcra
