#include "proxy/server/upstream_connect.h"

#include <openssl/ssl.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/error.hpp>

#include "proxy/upstream/upstream_tls.h"

namespace portico::proxy {

namespace net = boost::asio;
using tcp = net::ip::tcp;

net::awaitable<void> connectSocket(Worker& worker, TimedSocket& timed, const EndpointSpec& endpoint,
                                   boost::system::error_code& ec) {
  boost::system::error_code ignored;
  const auto ip = net::ip::make_address(endpoint.host, ignored);
  if (!ignored) {
    co_await timed.async_connect(tcp::endpoint(ip, endpoint.port), net::redirect_error(net::use_awaitable, ec));
  } else {
    tcp::resolver resolver(worker.ioc());
    auto results = co_await resolver.async_resolve(endpoint.host, std::to_string(endpoint.port),
                                                   net::redirect_error(net::use_awaitable, ec));
    if (ec) co_return;
    for (const auto& entry : results) {  // each address in turn, within the one deadline
      timed.socket().close(ignored);  // async_connect opens it again
      co_await timed.async_connect(entry.endpoint(), net::redirect_error(net::use_awaitable, ec));
      if (!ec || ec == boost::beast::error::timeout) break;
    }
  }
  if (!ec) timed.socket().set_option(tcp::no_delay(true), ignored);
}

net::awaitable<UpstreamConnectionPtr> connectUpstream(Worker& worker, const EndpointSpec& endpoint,
                                                      std::chrono::milliseconds timeout, const std::string& address,
                                                      const BackendStatePtr& backend,
                                                      const std::shared_ptr<UpstreamTls>& tls,
                                                      boost::system::error_code& ec, std::string& tlsFailure) {
  auto conn = std::make_unique<UpstreamConnection>(worker.ioc(), backend);
  conn->endpoint = address;
  TimedSocket& timed = conn->stream.timed();
  timed.expires_after(timeout);
  co_await connectSocket(worker, timed, endpoint, ec);
  if (ec) co_return nullptr;
  if (!tls) co_return conn;
  conn->tls = tls;
  conn->stream.startTls(tls->context());
  SSL* ssl = conn->stream.tlsStream().native_handle();
  if (!tls->prepare(ssl, endpoint.host, conn->endpoint)) {
    ec = net::error::invalid_argument;
    tlsFailure = "cannot set up TLS peer verification for " + endpoint.host;
    co_return nullptr;
  }
  co_await conn->stream.tlsStream().async_handshake(net::ssl::stream_base::client,
                                                    net::redirect_error(net::use_awaitable, ec));
  if (ec) {
    tlsFailure = ec == boost::beast::error::timeout ? "timed out" : UpstreamTls::handshakeFailure(ssl, ec);
    co_return nullptr;
  }
  co_return conn;
}

}  // namespace portico::proxy
