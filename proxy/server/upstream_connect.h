// Opening a connection to an upstream endpoint (an IP address, or a name resolved on the
// worker's loop), bounded by `timeout`. Internal to the proxy.
#pragma once

#include <chrono>
#include <string>

#include <boost/asio/awaitable.hpp>

#include "proxy/server/worker.h"

namespace portico::proxy {

// nullptr and `ec` on failure (beast::error::timeout when the timeout passed).
boost::asio::awaitable<UpstreamConnectionPtr> connectUpstream(Worker& worker, const EndpointSpec& endpoint,
                                                              std::chrono::milliseconds timeout,
                                                              const std::string& address,
                                                              const BackendStatePtr& backend,
                                                              boost::system::error_code& ec);

}  // namespace portico::proxy
