#include "proxy/server/filter_chain.h"

#include <array>

#include <boost/asio/async_result.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "proxy/server/client_connection.h"

namespace portico::proxy {

namespace net = boost::asio;

template <class Handler>
struct FilterContext::WaiterFor final : Waiter {
  explicit WaiterFor(Handler h) : handler(std::move(h)) {}
  void complete(policy::Verdict verdict) override { handler(std::move(verdict)); }
  Handler handler;
};

void FilterContext::resume(policy::Verdict result) {
  if (!waiter_) {
    early_ = std::move(result);  // the chain has not started waiting yet
    return;
  }
  auto waiter = std::move(waiter_);
  waiter->complete(std::move(result));
}

net::awaitable<policy::Verdict> FilterContext::suspended() {
  return net::async_initiate<decltype(net::use_awaitable), void(policy::Verdict)>(
      [this](auto handler) {
        if (early_) {
          net::post(ex.worker.ioc(), [h = std::move(handler), v = std::move(*early_)]() mutable { h(std::move(v)); });
          early_.reset();
          return;
        }
        waiter_ = std::make_unique<WaiterFor<decltype(handler)>>(std::move(handler));
      },
      net::use_awaitable);
}

namespace {

class IpRulesFilter final : public Filter {
 public:
  FilterStatus onRequest(FilterContext& ctx) const override {
    ctx.verdict = ctx.policies.checkAddress(ctx.ex.clientAddress);
    return ctx.verdict ? FilterStatus::Continue : FilterStatus::Refuse;
  }
};

// Answers preflights itself; adds the CORS response headers to actual requests.
class CorsFilter final : public Filter {
 public:
  FilterStatus onRequest(FilterContext& ctx) const override {
    ctx.verdict = ctx.policies.applyCors(ctx.view, ctx.ex.admission);
    return ctx.verdict ? FilterStatus::Continue : FilterStatus::Refuse;
  }
};

// API key, Basic or JWT: the consumer, and the identity headers for the backend. A JWT
// whose key is not in the JWKS yet waits, suspended, for an early refresh of the key set
// (at most one per URL per minimum interval) and is verified again once it has ended.
class AuthenticationFilter final : public Filter {
 public:
  FilterStatus onRequest(FilterContext& ctx) const override {
    bool keyMissing = false;
    ctx.verdict = ctx.policies.authenticate(ctx.view, ctx.ex.admission, &keyMissing);
    if (ctx.verdict) return FilterStatus::Continue;
    // The callback runs on the JWKS refresh thread: back to this worker to verify again.
    // The server stops the refresh thread before any worker's loop goes away.
    if (keyMissing && ctx.policies.refreshJwtKeysThen([&ctx, &ioc = ctx.ex.worker.ioc()] {
          net::post(ioc, [&ctx] { ctx.resume(ctx.policies.authenticate(ctx.view, ctx.ex.admission)); });
        }))
      return FilterStatus::Suspend;
    return FilterStatus::Refuse;
  }
};

// The route's own redirect: answered here, after the policies allowed the request.
class RedirectFilter final : public Filter {
 public:
  FilterStatus onRequest(FilterContext& ctx) const override {
    const RouteSpec& spec = ctx.ex.route->spec;
    if (!spec.redirect) return FilterStatus::Continue;
    const RedirectSpec& redirect = *spec.redirect;
    const http1::AdmittedRequest& rq = ctx.ex.request;
    std::string location =
        redirect.scheme.value_or(ctx.ex.conn.tls() ? "https" : "http") + "://" + redirect.host.value_or(ctx.ex.host);
    if (redirect.port) location += ":" + std::to_string(*redirect.port);
    location += redirect.path.value_or(rq.path);
    if (!rq.query.empty()) location.append("?").append(rq.query);
    ctx.verdict = policy::Verdict{redirect.status, "redirecting", {{"location", std::move(location)}}};
    return FilterStatus::Refuse;
  }
};

const IpRulesFilter kIpRules;
const CorsFilter kCors;
const AuthenticationFilter kAuthentication;
const RedirectFilter kRedirect;

const std::array<const Filter*, 6>& chain() {
  static const std::array<const Filter*, 6> filters{&kIpRules, &kCors, &kAuthentication, &externalAuthFilter(),
                                                    &rateLimitFilter(), &kRedirect};
  return filters;
}

}  // namespace

FilterChain::FilterChain(Exchange& ex, const RequestView& view)
    : ctx_(ex, view, *ex.runtime->policies),
      // The policy filters are skipped together when the route has none (the usual case).
      next_(ctx_.policies.empty() ? chain().size() - 1 : 0) {}

std::optional<policy::Verdict> FilterChain::run() {
  while (next_ < chain().size()) {
    switch (chain()[next_++]->onRequest(ctx_)) {
      case FilterStatus::Continue:
        break;
      case FilterStatus::Refuse:
        return done(std::move(ctx_.verdict));
      case FilterStatus::Suspend:
        return std::nullopt;
    }
  }
  return done({});
}

std::optional<policy::Verdict> FilterChain::resume(policy::Verdict verdict) {
  if (!verdict) return done(std::move(verdict));
  return run();
}

std::optional<policy::Verdict> FilterChain::done(policy::Verdict verdict) {
  // CORS and RateLimit-* go on whatever the client gets, a refusal too, so that a browser
  // script can read why it was refused.
  Exchange& ex = ctx_.ex;
  for (auto& header : ex.admission.responseHeaders) ex.responseHeaders.push_back(std::move(header));
  ex.admission.responseHeaders.clear();
  return verdict;
}

}  // namespace portico::proxy
