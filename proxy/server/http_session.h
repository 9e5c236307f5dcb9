// Client connections: one coroutine per connection serving HTTP/1.1 requests in turn.
// Internal to the proxy.
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>

#include "proxy/server/worker.h"

namespace portico::proxy {

// Worker thread. Takes ownership of an accepted socket and of its place in the connection
// limit, and serves it until it closes.
void startHttpSession(Worker& worker, boost::asio::ip::tcp::socket socket, Worker::ConnectionSlot slot);
// Same, after a TLS handshake with `tls` (the worker's SNI-selecting base context).
void startHttpsSession(Worker& worker, boost::asio::ip::tcp::socket socket, boost::asio::ssl::context& tls,
                       Worker::ConnectionSlot slot);

}  // namespace portico::proxy
