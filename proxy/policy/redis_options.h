// Where global rate limits are kept: the Redis server a worker's redis::AsyncRateLimiter
// (proxy/redis/async_rate_limiter.h) talks to, and the bounds it keeps. Parsed once per
// process from --redis-address and --redis-timeout (GatewayRuntime, route_policies.h).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace portico::proxy::policy {

struct RedisRateLimiterOptions {
  std::string host = "127.0.0.1";  // IP address or locally resolvable name
  uint16_t port = 6379;
  std::string password;  // AUTH on connect when non-empty
  std::chrono::milliseconds connectTimeout{50};
  std::chrono::milliseconds commandTimeout{50};
  std::chrono::milliseconds retryInterval{500};  // no attempt this long after a failure
};

}  // namespace portico::proxy::policy
