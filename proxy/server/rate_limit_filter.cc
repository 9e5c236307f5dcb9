// The rate limit as a filter. Local limits are decided on the spot (a sharded in-memory
// GCRA, proxy/policy/rate_limiter.h). Global ones ask Redis through the worker's own
// pipelined client (proxy/redis/async_rate_limiter.h) while the request waits suspended:
// a slow or stopped Redis delays only the requests that need it, by at most
// --redis-timeout, and never the worker.
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
    if (spec->global) {
      if (auto* redis = ctx.ex.worker.redisLimiter()) {
        // Answered later, on this thread, never from inside decide(); the chain waits.
        redis->decide(ctx.policies.name(), key, *spec, [&ctx](policy::RateLimitDecision decision) {
          ctx.resume(policy::RoutePolicies::rateLimitVerdict(decision, ctx.ex.admission));
        });
        return FilterStatus::Suspend;
      }
      return verdictOn(ctx, policy::RateLimitDecision{spec->failOpen, true});  // no Redis configured
    }
    return verdictOn(ctx, ctx.ex.worker.gateway().localLimiter().decide(ctx.policies.name(), key, *spec));
  }

 private:
  static FilterStatus verdictOn(FilterContext& ctx, const policy::RateLimitDecision& decision) {
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
