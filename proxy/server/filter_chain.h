// The filter stage: a route's policies as a chain of filters run in order on the worker
// thread. A filter answers at once (go on, or refuse with a verdict), or suspends the
// request: it starts an asynchronous step (an external-auth call, a Redis round trip) and
// resumes the chain later through FilterContext::resume. Only that request waits; the
// worker serves everything else meanwhile. A chain that never suspends allocates nothing
// but its coroutine frame; a suspension costs one small allocation.
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

// Filters of their own file (ext_auth_filter.cc, rate_limit_filter.cc).
const Filter& externalAuthFilter();
const Filter& rateLimitFilter();

}  // namespace portico::proxy
