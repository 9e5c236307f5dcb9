// The response stage: the upstream's response back to the client through a new header
// (http1::writeResponseHead) and Portico's own framing (relayMessage), or, after a 101,
// the bytes of the switched protocol in both directions.
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <spdlog/spdlog.h>

#include "proxy/server/body_relay.h"
#include "proxy/server/client_connection.h"
#include "proxy/server/exchange.h"

namespace portico::proxy {

namespace {

namespace net = boost::asio;
namespace http = boost::beast::http;
using boost::system::error_code;
constexpr auto kAwait = net::use_awaitable;
constexpr auto kTunnelIdleTimeout = std::chrono::hours(1);

UpstreamError classify(const error_code& ec) {
  if (ec == boost::beast::error::timeout) return UpstreamError::Timeout;
  return UpstreamError::Reset;
}

// The response header for the client: the upstream's fields that pass the filter, the
// route's edits, Portico's own (CORS, affinity), framing chosen by relayMessage.
http1::ResponseHeadPlan responsePlan(const Exchange& ex, unsigned status) {
  http1::ResponseHeadPlan plan;
  plan.status = status;
  plan.http10Client = ex.clientVersion == 10;
  plan.edits = &ex.route->spec.responseHeaders;
  plan.underscores = ex.options.admission.underscores;
  plan.own.reserve(ex.responseHeaders.size());
  for (const auto& [name, value] : ex.responseHeaders) plan.own.emplace_back(name, value);
  return plan;
}

// One direction of an upgraded connection, byte for byte.
template <class From, class To>
net::awaitable<void> pumpBytes(From& from, TimedSocket& fromDeadline, To& to, TimedSocket& toDeadline) {
  char data[16 * 1024];
  error_code ec;
  for (;;) {
    fromDeadline.expires_after(kTunnelIdleTimeout);
    const size_t n = co_await from.async_read_some(net::buffer(data), net::redirect_error(kAwait, ec));
    if (ec) break;
    toDeadline.expires_after(kTunnelIdleTimeout);
    co_await net::async_write(to, net::buffer(data, n), net::redirect_error(kAwait, ec));
    if (ec) break;
  }
  // Either side closing ends the tunnel: close both so the other direction stops too.
  fromDeadline.socket().close(ec);
  toDeadline.socket().close(ec);
}

}  // namespace

net::awaitable<bool> relayResponse(Exchange& ex, ResponseParser& response, UpstreamConnectionPtr conn,
                                   char* bodyBuffer) {
  Response& res = response.head();
  const unsigned status = ex.status;
  const http1::AnnouncedFraming announced = http1::checkFraming(res, res.version() == 10);
  if (!announced.error.empty()) {
    // The connection is dropped with `conn`: its framing cannot be trusted.
    ex.worker.metrics().recordUpstreamError(UpstreamError::Reset);
    spdlog::warn("{} malformed response from {}: {}", ex.requestId, conn->endpoint, announced.error);
    co_return co_await reply(ex, 502, "upstream sent a malformed response", false);
  }
  const bool bodyless = ex.req().method() == http::verb::head || status == 204 || status == 304;
  http1::AnnouncedFraming in = announced;
  if (bodyless) in = {};
  else if (in.framing == http1::Framing::None) in.framing = http1::Framing::UntilClose;
  const bool upstreamKeepAlive = res.keep_alive() && !response.need_eof() && in.framing != http1::Framing::UntilClose;
  const bool keepClient = ex.clientKeepAlive && !ex.worker.draining();

  http1::ResponseHeadPlan plan = responsePlan(ex, status);
  if (bodyless && announced.framing == http1::Framing::Length && status != 204)
    plan.representationLength = announced.length;
  // The fields now, before any of the body (and its trailers) is parsed.
  http1::writeResponseHead(ex.head, res, plan);
  bool keptAlive = keepClient;
  auto writeHead = [&](http1::Framing framing, uint64_t length) {
    // A body of unknown length goes to an HTTP/1.0 client until the connection closes.
    keptAlive = keepClient && framing != http1::Framing::UntilClose;
    http1::endResponseHead(ex.head, plan, framing, length, keptAlive);
  };
  const RouteSpec& spec = ex.route->spec;
  const RelayResult relayed =
      co_await relayMessage(conn->stream, conn->buffer, response, ex.conn.stream, ex.head, writeHead, in,
                            ex.clientVersion == 11, bodyBuffer, Worker::kBodyBufferSize, spec.timeouts.request,
                            ex.options.bodyTimeout, ex.responseBytes);
  if (relayed.failed == Side::From) {
    const UpstreamError kind = classify(relayed.ec);
    ex.worker.metrics().recordUpstreamError(kind);
    // Nothing sent yet (the upstream failed within the first body buffer): the client can
    // still get a proper error. Otherwise the header is gone already and the only honest
    // signal left is to cut the connection.
    if (!relayed.wroteSome)
      co_await reply(ex, kind == UpstreamError::Timeout ? 504 : 502,
                     kind == UpstreamError::Timeout ? "upstream response timed out"
                                                    : "upstream closed the connection mid-response",
                     false);
    co_return false;
  }
  if (relayed.failed == Side::To) co_return false;
  if (upstreamKeepAlive && response.is_done()) ex.worker.pool().put(std::move(conn), spec.timeouts.idle);
  co_return keptAlive;
}

// After a 101: pass the upgrade response on, then bytes both ways until one side ends.
net::awaitable<void> tunnel(Exchange& ex, ResponseParser& response, UpstreamConnection& conn) {
  http1::ResponseHeadPlan plan = responsePlan(ex, 101);
  plan.upgrade = ex.request.upgrade;
  http1::writeResponseHead(ex.head, response.head(), plan);
  http1::endResponseHead(ex.head, plan, http1::Framing::None, 0, true);
  FlexStream& client = ex.conn.stream;
  TimedSocket& clientDeadline = client.timed();
  error_code ec;
  clientDeadline.expires_after(ex.options.bodyTimeout);
  co_await net::async_write(client, net::buffer(ex.head), net::redirect_error(kAwait, ec));
  if (ec) co_return;
  // Bytes that arrived with the headers belong to the new protocol.
  if (conn.buffer.size()) {
    co_await net::async_write(client, conn.buffer.data(), net::redirect_error(kAwait, ec));
    conn.buffer.consume(conn.buffer.size());
  }
  if (!ec && ex.conn.buffer.size()) {
    conn.stream.timed().expires_after(ex.options.bodyTimeout);
    co_await net::async_write(conn.stream, ex.conn.buffer.data(), net::redirect_error(kAwait, ec));
    ex.conn.buffer.consume(ex.conn.buffer.size());
  }
  if (ec) co_return;
  // Upstream-to-client runs as its own coroutine; this one waits for it on a timer that
  // the other cancels when done (Asio 1.74 has no awaitable operators).
  net::steady_timer otherDone(ex.worker.ioc(), std::chrono::steady_clock::time_point::max());
  bool finished = false;
  net::co_spawn(ex.worker.ioc(), pumpBytes(conn.stream, conn.stream.timed(), client, clientDeadline),
                [&](std::exception_ptr) {
                  finished = true;
                  otherDone.cancel();
                });
  co_await pumpBytes(client, clientDeadline, conn.stream, conn.stream.timed());
  if (!finished) co_await otherDone.async_wait(net::redirect_error(kAwait, ec));
}

}  // namespace portico::proxy
