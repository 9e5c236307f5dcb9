// The rate limit as a filter: local limits are decided on the spot (a sharded in-memory
// GCRA, proxy/policy/rate_limiter.h); global ones ask Redis.
#include "proxy/server/filter_chain.h"

namespace portico::proxy {

namespace {

class RateLimitFilter final : public Filter {
 public:
  FilterStatus onRequest(FilterContext& ctx) const override {
    const RateLimitSpec* spec = ctx.policies.rateLimit();
    if (!spec) return FilterStatus::Continue;
    std::string key;
    ctx.verdict = ctx.policies.rateLimitKey(ctx.view, ctx.ex.clientAddress, ctx.ex.admission, key);
    if (!ctx.verdict) return FilterStatus::Refuse;
    policy::GatewayRuntime& gateway = ctx.ex.worker.gateway();
    policy::RateLimitDecision decision;
    if (!spec->global) decision = gateway.localLimiter().decide(ctx.policies.name(), key, *spec);
    else if (auto* redis = gateway.redisLimiter()) decision = redis->decide(ctx.policies.name(), key, *spec);
    else decision = policy::RateLimitDecision{spec->failOpen, true};  // no Redis configured: the failure mode
    ctx.verdict = policy::RoutePolicies::rateLimitVerdict(decision, ctx.ex.admission);
    return ctx.verdict ? FilterStatus::Continue : FilterStatus::Refuse;
  }
};

}  // namespace

const Filter& rateLimitFilter() {
  static const RateLimitFilter filter;
  return filter;
}

}  // namespace portico::proxy
