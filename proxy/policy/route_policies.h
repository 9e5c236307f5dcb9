// The gateway policies of a route, compiled once per table version and shared by every
// worker, and the process-wide state they use (rate-limit buckets, JWKS cache, trusted
// proxies). No Beast here: the session feeds a RequestView in and applies the verdict.
//
// Order of evaluation (each step can end the request):
//   1. IP rules           403 for a denied client address
//   2. CORS preflight     204 with the allowed headers, or 403
//   3. authentication     API key, Basic or JWT here (401); external auth is a sub-request
//                         the session makes between admit() and limit()
//   4. rate limit         429 with Retry-After and RateLimit-* (503 when the global store
//                         is down and the policy fails closed)
//   5. redirect, transformations and balancing happen in the session afterwards.
// Paths are matched and checked after normalization (proxy/router/path.h), and the
// backend receives the normalized path, so a policy and the backend see the same path.
#pragma once

#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "proxy/common/expected.h"
#include "proxy/common/retired_objects.h"
#include "proxy/config/route_table.h"
#include "proxy/policy/api_key.h"
#include "proxy/policy/basic_auth.h"
#include "proxy/policy/cors.h"
#include "proxy/policy/ip_rules.h"
#include "proxy/policy/jwks.h"
#include "proxy/policy/jwt.h"
#include "proxy/policy/rate_limiter.h"
#include "proxy/policy/redis_options.h"

namespace re2 {
class RE2;
}

namespace portico::proxy::policy {

using HeaderList = std::vector<std::pair<std::string, std::string>>;

// Process-wide, shared by every worker and every table version.
struct GatewayOptions {
  std::vector<std::string> trustedProxies;
  std::string redisAddress;  // host:port; empty: global limits fail as configured
  std::chrono::milliseconds redisTimeout{50};
};

class GatewayRuntime {
 public:
  GatewayRuntime(const GatewayOptions& options, JwksFetcher fetcher);
  // The client address: the peer, or the first untrusted X-Forwarded-For hop behind
  // trusted proxies.
  std::string clientAddress(std::string_view peer, std::string_view forwardedFor) const;
  // Whether the peer is a trusted proxy, whose X-Forwarded-Proto/-Host/-Port and
  // Forwarded headers are passed on instead of being replaced.
  bool trustsPeer(std::string_view peer) const { return !trusted_.empty() && trusted_.contains(peer); }
  LocalRateLimiter& localLimiter() { return local_; }
  // Where global limits are kept (--redis-address), for each worker's own Redis client;
  // nullopt when none is configured.
  const std::optional<RedisRateLimiterOptions>& redisOptions() const { return redis_; }
  JwksCache& jwks() { return jwks_; }

 private:
  CidrSet trusted_;
  LocalRateLimiter local_;
  std::optional<RedisRateLimiterOptions> redis_;
  JwksCache jwks_;
};

// What a policy step decided. status 0: go on.
struct Verdict {
  unsigned status = 0;
  std::string message;
  HeaderList replyHeaders;  // on Portico's own answer (401 challenge, 429 Retry-After, CORS)
  explicit operator bool() const { return status == 0; }
};

// What the request carries on into the proxy once admitted.
struct Admission {
  std::optional<std::string> consumer;  // authenticated consumer or user
  nlohmann::json claims;                // JWT claims (null otherwise)
  HeaderList setUpstream;               // identity headers for the backend
  std::vector<std::string> removeUpstream;  // credentials and spoofable identity headers
  std::optional<std::string> removeQueryParam;  // an API key passed in the query
  HeaderList responseHeaders;           // CORS and RateLimit-* on the proxied response
};

class RoutePolicies {
 public:
  static Expected<RoutePolicies> compile(const RouteSpec& spec, GatewayRuntime& runtime);
  RoutePolicies(RoutePolicies&&) noexcept;
  ~RoutePolicies();

  bool empty() const { return empty_; }
  // Steps 1-3 (without external auth), each on its own and all three in order.
  Verdict checkAddress(std::string_view clientAddress) const;
  Verdict applyCors(const RequestView& request, Admission& admission) const;
  // `jwtKeyMissing`: see JwtVerifier::verify; then refreshJwtKeysThen may bring the key.
  Verdict authenticate(const RequestView& request, Admission& admission, bool* jwtKeyMissing = nullptr) const;
  bool refreshJwtKeysThen(std::function<void()> done) const { return jwt_ && jwt_->refreshKeysThen(std::move(done)); }
  Verdict admit(const RequestView& request, std::string_view clientAddress, Admission& admission) const;
  // Step 4 in halves, for a limiter that answers later: the bucket key (or a refusal: a
  // Consumer key without a consumer), then the verdict on the limiter's decision.
  const RateLimitSpec* rateLimit() const { return spec_->rateLimit ? &*spec_->rateLimit : nullptr; }
  const std::string& name() const { return spec_->name; }
  Verdict rateLimitKey(const RequestView& request, std::string_view clientAddress, const Admission& admission,
                       std::string& key) const;
  static Verdict rateLimitVerdict(const RateLimitDecision& decision, Admission& admission);
  // The path after rewrite.regex, or nullopt when the route has none.
  std::optional<std::string> regexRewrite(std::string_view path) const;

 private:
  RoutePolicies() = default;
  const RouteSpec* spec_ = nullptr;
  bool empty_ = true;
  // Boxed: most routes have none of them, and a table holds one RoutePolicies per route
  // (inline they cost 850 bytes a route, 9 MB at 11,000 routes).
  std::unique_ptr<IpRules> ipRules_;
  std::unique_ptr<CorsPolicy> cors_;
  std::unique_ptr<ApiKeyAuthenticator> apiKey_;
  std::unique_ptr<BasicAuthenticator> basic_;
  std::unique_ptr<JwtVerifier> jwt_;
  std::unique_ptr<re2::RE2> rewrite_;
};

// Every route's policies for one table, by Route::index. The RoutePolicies objects are
// owned by the PolicyCompiler and stay alive as long as this list does.
struct TablePolicies {
  uint64_t version = 0;
  // nullptr: the route's policies did not compile; it answers 503 rather than serving
  // unprotected (render validates first, so this is a last line of defence).
  std::vector<const RoutePolicies*> routes;
  // The spec object each entry was compiled from (Route::spec's address; nullptr for a
  // failed one), to find the entries a later table can keep (proxy/config/spec_reuse.h).
  std::vector<const RouteSpec*> specs;
};
using TablePoliciesConstSharedPtr = std::shared_ptr<const TablePolicies>;

// Compiles a table's policies once, whichever worker asks first. Only the routes whose
// spec object is new since the last compiled table are compiled; the others keep their
// RoutePolicies object (and with it their regexes, key sets and JWKS registrations), so
// the cost of a new table is its changed routes plus a pointer copy per route. Objects
// of routes gone from the newest table are freed once no TablePolicies naming them is
// alive.
class PolicyCompiler {
 public:
  explicit PolicyCompiler(GatewayRuntime& runtime);
  ~PolicyCompiler();
  // Any thread.
  TablePoliciesConstSharedPtr forTable(const RouteTable& table);

 private:
  struct CompiledRoute;
  TablePoliciesConstSharedPtr forOlderTable(const RouteTable& table);
  GatewayRuntime& runtime_;
  std::mutex mu_;
  TablePoliciesConstSharedPtr last_;
  std::vector<std::unique_ptr<CompiledRoute>> owned_;  // by index in last_; null for a failed route
  RetiredObjects<CompiledRoute> retired_;
};

}  // namespace portico::proxy::policy
