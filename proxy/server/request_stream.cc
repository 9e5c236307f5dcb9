// The stream stage: one request whose header has been read, from admission to the hand-off
// to the upstream exchange. In order: admission (proxy/http/request_admission.h), the
// table pinned for the whole exchange, the https redirect, routing, the body limit, the
// filter chain, balancing, 100-continue, and the forwarding plan.
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/string.hpp>
#include <fmt/format.h>

#include <charconv>

#include "proxy/router/cookie.h"
#include "proxy/router/query.h"
#include "proxy/server/client_connection.h"
#include "proxy/server/exchange.h"
#include "proxy/server/filter_chain.h"
#include "proxy/server/http_errors.h"

namespace portico::proxy {

namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using boost::system::error_code;

// The router's and the policies' view of the request.
class HeadRequestView final : public RequestView {
 public:
  HeadRequestView(const Request& req, std::string_view host, std::string_view path, std::string_view query,
                  std::string_view localAddress)
      : req_(req), host_(host), path_(path), query_(query), localAddress_(localAddress) {}
  std::string_view method() const override { return req_.method_string(); }
  std::string_view host() const override { return host_; }
  std::string_view path() const override { return path_; }
  std::string_view query() const override { return query_; }
  std::optional<std::string_view> header(std::string_view name) const override { return req_.get(name); }
  std::string_view localAddress() const override { return localAddress_; }

 private:
  const Request& req_;
  std::string_view host_, path_, query_, localAddress_;
};

std::optional<std::string_view> cookie(const Request& req, std::string_view name) {
  std::optional<std::string_view> found;
  req.forEach(http::field::cookie, [&](std::string_view line) {
    found = router::findCookie(line, name);
    return !found;
  });
  return found;
}

// The balancer's inputs from the request: the ConsistentHash key, the affinity cookie.
PickRequest pickRequestFor(const RouteSpec& spec, const Exchange& ex, const Request& req) {
  PickRequest pr;
  pr.now = nowNanos();
  if (spec.loadBalancing == LoadBalancingPolicy::ConsistentHash) {
    std::optional<std::string_view> key;
    switch (spec.hashOn.source) {
      case HashSource::ClientIP:
        key = ex.clientAddress;
        break;
      case HashSource::Header:
        key = req.get(spec.hashOn.name);
        break;
      case HashSource::Cookie:
        key = cookie(req, spec.hashOn.name);
        break;
      case HashSource::Query:
        key = router::findRawQueryValue(ex.request.query, spec.hashOn.name);
        break;
      case HashSource::Path:
        key = ex.request.routingPath();
        break;
    }
    if (key) pr.hashKey = balancingHash(*key);  // no key: a random endpoint
  }
  if (spec.sessionAffinity) {
    if (auto value = cookie(req, spec.sessionAffinity->cookieName)) {
      uint64_t id = 0;
      const auto [end, ec] = std::from_chars(value->data(), value->data() + value->size(), id, 16);
      if (ec == std::errc() && end == value->data() + value->size()) pr.affinityId = id;
    }
  }
  return pr;
}

std::string httpsLocation(const Exchange& ex) {
  std::string location = "https://" + ex.host;
  if (ex.options.httpsRedirectPort != 443) location += ":" + std::to_string(ex.options.httpsRedirectPort);
  location += ex.request.path;
  if (!ex.request.query.empty()) location.append("?").append(ex.request.query);
  return location;
}

}  // namespace

net::awaitable<bool> serveRequest(Exchange& ex) {
  Request& req = ex.req();
  Worker& worker = ex.worker;
  if (auto id = req.get("x-request-id"); id && acceptableRequestId(*id))
    ex.requestId = std::string(*id);
  else
    ex.requestId = newRequestId(worker.random());
  http1::AdmittedRequest& rq = ex.request;
  if (auto refusal = http1::admitRequest(req, ex.options.admission, rq))
    co_return co_await reply(ex, refusal->status, refusal->message, false);
  const bool bodyPending = !ex.parser.is_done();
  const bool keepAlive = req.keep_alive() && !worker.draining() && !bodyPending;
  ex.host = rq.host;
  if (rq.redirectTo) {
    ex.responseHeaders.emplace_back("location", *rq.redirectTo);
    co_return co_await reply(ex, 307, "redirecting to the path without escaped slashes", keepAlive);
  }

  // Pin the table: this request finishes on it even if a new one is published.
  RouteTableConstSharedPtr table = worker.table();
  if (!table) co_return co_await reply(ex, 503, "no routing table loaded yet", keepAlive);
  if (!ex.conn.tls() && table->redirectsToHttps(ex.host)) {
    ex.responseHeaders.emplace_back("location", httpsLocation(ex));
    co_return co_await reply(ex, 308, "redirecting to https", keepAlive);
  }
  std::string_view clientCertificate;
  if (const RouteTable::HostTlsPolicy* tlsPolicy = table->tlsPolicyFor(ex.host)) {
    if (tlsPolicy->hsts && ex.conn.tls()) ex.responseHeaders.emplace_back("strict-transport-security", *tlsPolicy->hsts);
    if (const ClientAuthSpec* auth = tlsPolicy->clientAuth) {
      if (auto refusal = clientAuthRefusal(*auth, ex.conn.tlsSession.get(), ex.host))
        co_return co_await reply(ex, refusal->status, refusal->message, keepAlive);
      clientCertificate = ex.conn.tlsSession->clientCertificate;
    }
  }
  const HeadRequestView view(req, ex.host, rq.routingPath(), rq.query, ex.conn.localAddress);
  const Route* route = table->match(view);
  if (!route) co_return co_await reply(ex, 404, "no route for this host and path", keepAlive);
  ex.route = route;
  ex.tableRuntime = worker.tableRuntime();
  ex.runtime = &worker.routeRuntime(*route);

  const uint64_t bodyLimit =
      route->spec.maxRequestBodyBytes ? route->spec.maxRequestBodyBytes : ex.options.maxRequestBodyBytes;
  if (rq.body == http1::Framing::Length && rq.contentLength > bodyLimit)
    co_return co_await reply(ex, 413, "request body larger than this route allows", false);
  ex.parser.body_limit(bodyLimit);

  // X-Forwarded-For over several lines is one list (RFC 9110 5.3), for the trusted-proxy
  // walk and for the header sent upstream.
  ex.forwarding.forwardedFor = http1::joinedValues(req, "x-forwarded-for");
  ex.clientAddress = worker.gateway().clientAddress(ex.conn.clientIp, ex.forwarding.forwardedFor);
  if (!ex.runtime->policies) co_return co_await reply(ex, 503, "this route's policies failed to load", keepAlive);
  FilterChain filters(ex, view);
  std::optional<policy::Verdict> verdict = filters.run();
  while (!verdict) verdict = filters.resume(co_await filters.context().suspended());
  if (!*verdict) {
    for (auto& header : verdict->replyHeaders) ex.responseHeaders.push_back(std::move(header));
    co_return co_await reply(ex, verdict->status, verdict->message, keepAlive);
  }

  if (route->spec.unresolvedBackendWeight && drawsUnresolvedBackend(route->spec, worker.random()))
    co_return co_await reply(ex, 500, "this request's backend reference is not resolved (see the route's status)",
                             keepAlive);
  const PickRequest pickRequest = pickRequestFor(route->spec, ex, req);
  const Pick pick = ex.runtime->balancer->pick(pickRequest, *ex.runtime->cursors, worker.random());
  if (!pick) co_return co_await reply(ex, 503, "no endpoints available for this route", keepAlive);

  if (bodyPending && beast::iequals(req[http::field::expect], "100-continue")) {
    // Portico reads the body itself, so it answers the expectation itself.
    static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
    error_code ec;
    ex.conn.stream.timed().expires_after(ex.options.bodyTimeout);
    co_await net::async_write(ex.conn.stream, net::buffer(kContinue.data(), kContinue.size()),
                              net::redirect_error(net::use_awaitable, ec));
    if (ec) co_return false;
  }
  ex.clientKeepAlive = req.keep_alive();
  ex.clientVersion = req.version();
  const http1::ForwardingFacts facts{ex.conn.clientIp, ex.clientAddress,
                                     worker.gateway().trustsPeer(ex.conn.clientIp), ex.conn.tls(),
                                     ex.conn.localPort, ex.requestId, ex.options.admission.underscores,
                                     clientCertificate};
  http1::planForwarding(req, rq, route->spec, ex.admission, ex.runtime->policies->regexRewrite(rq.routingPath()),
                        facts, ex.forwarding);
  co_return co_await forwardUpstream(ex, pickRequest, pick);
}

}  // namespace portico::proxy
