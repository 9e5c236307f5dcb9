// The filter stage: a route's policies as a chain of filters run in order on the worker
// thread. A filter answers at once (go on, or refuse with a verdict), or suspends the
// request: it starts an asynchronous step (an external-auth call, a Redis round trip) and
// resumes the chain later through FilterContext::resume. Only that request waits; the
// worker serves everything else meanwhile. A chain that never suspends is a plain loop (no
// coroutine frame, no allocation); a suspension costs one small allocation.
//
// Order: IP rules, CORS, authentication (API key, Basic, JWT), external auth, rate limit,
// the route's redirect. Internal to the proxy.
#pragma once

#include <memory>

#include "proxy/server/exchange.h"

namespace portico::proxy {

enum class FilterStatus {
  Continue,  // the next filter
  Refuse,    // stop: answer with ctx.verdict
  Suspend,   // an asynchronous step started; it calls ctx.resume(verdict) exactly once
};

class FilterContext {
 public:
  FilterContext(Exchange& exchange, const RequestView& requestView, const policy::RoutePolicies& routePolicies)
      : ex(exchange), view(requestView), policies(routePolicies) {}
  FilterContext(const FilterContext&) = delete;
  FilterContext& operator=(const FilterContext&) = delete;

  Exchange& ex;
  const RequestView& view;
  const policy::RoutePolicies& policies;
  policy::Verdict verdict;  // a Refuse's answer

  // Worker thread, once per Suspend, never from inside the filter's onRequest.
  void resume(policy::Verdict result);
  // The chain's side: waits for resume() (completes at once if it came already).
  boost::asio::awaitable<policy::Verdict> suspended();

 private:
  struct Waiter {
    virtual ~Waiter() = default;
    virtual void complete(policy::Verdict verdict) = 0;
  };
  template <class Handler>
  struct WaiterFor;
  std::unique_ptr<Waiter> waiter_;
  std::optional<policy::Verdict> early_;
};

class Filter {
 public:
  virtual ~Filter() = default;
  virtual FilterStatus onRequest(FilterContext& ctx) const = 0;
};

// One run of the chain for one request:
//   FilterChain chain(ex, view);
//   auto verdict = chain.run();
//   while (!verdict) verdict = chain.resume(co_await chain.context().suspended());
// A verdict with status 0 lets the request through. Either way, the response headers the
// filters collected (CORS, RateLimit-*) are moved to the exchange.
class FilterChain {
 public:
  FilterChain(Exchange& ex, const RequestView& view);
  // Runs the filters from where it stands; nullopt when one suspended the request.
  std::optional<policy::Verdict> run();
  // The suspended filter's verdict: a refusal ends the chain, otherwise it goes on.
  std::optional<policy::Verdict> resume(policy::Verdict verdict);
  FilterContext& context() { return ctx_; }

 private:
  std::optional<policy::Verdict> done(policy::Verdict verdict);
  FilterContext ctx_;
  size_t next_;
};

// Filters of their own file (ext_auth_filter.cc, rate_limit_filter.cc).
const Filter& externalAuthFilter();
const Filter& rateLimitFilter();

}  // namespace portico::proxy
