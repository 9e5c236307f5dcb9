#include "proxy/server/upstream_connect.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace portico::proxy {

namespace net = boost::asio;
using tcp = net::ip::tcp;

net::awaitable<UpstreamConnectionPtr> connectUpstream(Worker& worker, const EndpointSpec& endpoint,
                                                      std::chrono::milliseconds timeout, const std::string& address,
                                                      const BackendStatePtr& backend, boost::system::error_code& ec) {
  auto conn = std::make_unique<UpstreamConnection>(worker.ioc(), backend);
  conn->endpoint = address;
  conn->stream.expires_after(timeout);
  boost::system::error_code parseError;
  const auto ip = net::ip::make_address(endpoint.host, parseError);
  if (!parseError) {
    co_await conn->stream.async_connect(tcp::endpoint(ip, endpoint.port), net::redirect_error(net::use_awaitable, ec));
  } else {
    tcp::resolver resolver(worker.ioc());
    auto results = co_await resolver.async_resolve(endpoint.host, std::to_string(endpoint.port),
                                                   net::redirect_error(net::use_awaitable, ec));
    if (ec) co_return nullptr;
    for (const auto& entry : results) {  // each address in turn, within the one timeout
      conn->stream.socket().close(parseError);  // async_connect opens it again
      co_await conn->stream.async_connect(entry.endpoint(), net::redirect_error(net::use_awaitable, ec));
      if (!ec || ec == boost::beast::error::timeout) break;
    }
  }
  if (ec) co_return nullptr;
  conn->stream.socket().set_option(tcp::no_delay(true), parseError);
  co_return conn;
}

}  // namespace portico::proxy
