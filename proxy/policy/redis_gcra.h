// The Redis side of global rate limits, shared by both Redis clients: RedisRateLimiter
// (blocking, proxy/policy/redis_rate_limiter.h) and redis::AsyncRateLimiter (non-blocking,
// proxy/redis/async_rate_limiter.h). One script, one key scheme, one reply format, so the
// two clients count into the same buckets and a replica running either agrees with the
// others. The semantics (GCRA on Redis server time, key naming, expiry) are described in
// redis_rate_limiter.h.
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

// The Redis key of the bucket of `key` under `policyId` (see redis_rate_limiter.h).
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
