// External authorization as a filter: the request's method, normalized target and chosen
// headers go to the auth service (no body) in a sub-request on the worker's loop, while
// the request waits suspended. 2xx admits and copies the chosen answer headers onto the
// upstream request; any other answer goes back to the client with its status; no answer
// in time fails closed (503) unless failOpen.
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <spdlog/spdlog.h>

#include "proxy/server/client_connection.h"
#include "proxy/server/filter_chain.h"
#include "proxy/server/upstream_connect.h"
#include "proxy/upstream/http_fetch.h"

namespace portico::proxy {

namespace {

namespace net = boost::asio;
namespace http = boost::beast::http;
using boost::system::error_code;

net::awaitable<policy::Verdict> askAuthService(Exchange& ex, const ExternalAuthSpec& spec) {
  const Request& req = ex.req();
  const ExternalAuthTarget* target = ex.runtime->externalAuth;
  if (!target || !target->error.empty()) {
    spdlog::error("external auth {}: {}", spec.url, target ? target->error : "not resolved");
    co_return policy::Verdict{503, "authorization service unavailable", {}};
  }
  const HttpUrl* url = &target->url;
  const auto deadline = std::chrono::steady_clock::now() + spec.timeout;

  http::request<http::empty_body> check{req.method(), url->target, 11};
  check.set(http::field::host, url->host);
  check.set("x-forwarded-method", req.method_string());
  // The normalized path: the one the route matched and the backend will get.
  const http1::AdmittedRequest& rq = ex.request;
  check.set("x-forwarded-uri", rq.query.empty() ? rq.path : rq.path + "?" + std::string(rq.query));
  check.set("x-forwarded-host", ex.host);
  check.set("x-forwarded-for", ex.clientAddress);
  check.set("x-forwarded-proto", ex.conn.tls() ? "https" : "http");
  for (const auto& name : spec.forwardHeaders)
    if (auto value = req.get(name)) check.set(name, *value);
  check.prepare_payload();

  error_code ec;
  std::string tlsFailure;
  UpstreamConnectionPtr conn = ex.worker.pool().take(target->address, target->tls.get());
  if (!conn)
    conn = co_await connectUpstream(ex.worker, target->endpoint, spec.timeout, target->address, target->backend,
                                    target->tls, ec, tlsFailure);
  http::response_parser<http::string_body> answer;
  answer.body_limit(64 * 1024);
  if (req.method() == http::verb::head) answer.skip(true);  // a HEAD answer has no body
  if (conn) {
    conn->stream.timed().expires_at(deadline);
    co_await http::async_write(conn->stream, check, net::redirect_error(net::use_awaitable, ec));
    if (!ec) co_await http::async_read(conn->stream, conn->buffer, answer, net::redirect_error(net::use_awaitable, ec));
  }
  if (!conn || ec) {
    spdlog::warn("{} external auth {} failed: {}{}", ex.requestId, spec.url, ec.message(),
                 tlsFailure.empty() ? "" : " (TLS: " + tlsFailure + ")");
    if (spec.failOpen) co_return policy::Verdict{};
    co_return policy::Verdict{503, "authorization service unavailable", {}};
  }
  const auto& res = answer.get();
  const unsigned status = res.result_int();
  if (res.keep_alive()) ex.worker.pool().put(std::move(conn), std::chrono::seconds(30));
  if (status >= 200 && status < 300) {
    for (const auto& name : spec.upstreamHeaders)
      if (auto it = res.find(name); it != res.end())
        ex.admission.setUpstream.emplace_back(name, std::string(it->value()));
    co_return policy::Verdict{};
  }
  policy::Verdict denied{status >= 300 && status < 600 ? status : 403, "denied by the authorization service", {}};
  for (auto name : {http::field::www_authenticate, http::field::location, http::field::set_cookie})
    for (auto it = res.find(name); it != res.end() && it->name() == name; ++it)
      denied.replyHeaders.emplace_back(std::string(it->name_string()), std::string(it->value()));
  co_return denied;
}

class ExternalAuthFilter final : public Filter {
 public:
  FilterStatus onRequest(FilterContext& ctx) const override {
    const auto& external = ctx.ex.route->spec.auth.external;
    if (!external) return FilterStatus::Continue;
    // A client must not be able to send the headers the auth service's answer provides.
    for (const auto& name : external->upstreamHeaders) ctx.ex.admission.removeUpstream.push_back(name);
    // The chain waits for the verdict, so the exchange outlives the sub-request.
    net::co_spawn(ctx.ex.worker.ioc(), askAuthService(ctx.ex, *external),
                  [&ctx](std::exception_ptr error, policy::Verdict verdict) {
                    if (error) verdict = policy::Verdict{503, "authorization service unavailable", {}};
                    ctx.resume(std::move(verdict));
                  });
    return FilterStatus::Suspend;
  }
};

}  // namespace

const Filter& externalAuthFilter() {
  static const ExternalAuthFilter filter;
  return filter;
}

}  // namespace portico::proxy
