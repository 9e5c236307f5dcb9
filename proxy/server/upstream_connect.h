// Opening a connection to an upstream endpoint (an IP address, or a name resolved on the
// worker's loop), with the TLS handshake when `tls` is given, all bounded by `timeout`.
// Internal to the proxy.
#pragma once

#include <chrono>
#include <string>

#include <boost/asio/awaitable.hpp>

#include "proxy/server/worker.h"

namespace portico::proxy {

// A TCP connection to `endpoint` (an IP address, or a name resolved on the worker's loop,
// each of its addresses tried in turn) within `timed`'s deadline, with TCP_NODELAY; `ec`
// says why not (beast::error::timeout when the deadline passed).
boost::asio::awaitable<void> connectSocket(Worker& worker, TimedSocket& timed, const EndpointSpec& endpoint,
                                           boost::system::error_code& ec);

// nullptr and `ec` on failure (beast::error::timeout when the timeout passed); when the
// TCP connection was made but the TLS handshake failed, `tlsFailure` says why as well
// (UpstreamTls::handshakeFailure).
boost::asio::awaitable<UpstreamConnectionPtr> connectUpstream(Worker& worker, const EndpointSpec& endpoint,
                                                              std::chrono::milliseconds timeout,
                                                              const std::string& address,
                                                              const BackendStatePtr& backend,
                                                              const std::shared_ptr<UpstreamTls>& tls,
                                                              boost::system::error_code& ec, std::string& tlsFailure);

}  // namespace portico::proxy
