// Turns the configured Redis host into a numeric address, once, at startup.
//
// hiredis's async connect runs getaddrinfo itself on every connect, on the calling (worker)
// thread; given a numeric address that never blocks, given a name it may block on DNS. So
// the limiter resolves a name here, once, in its constructor (getaddrinfo blocks there,
// off the request path), and connects to the first address for its lifetime.
#pragma once

#include <string>

namespace portico::proxy::redis {

// `host` itself when it is an IPv4 or IPv6 literal; otherwise its first address from
// getaddrinfo, as text. Empty (and logged) when the name does not resolve.
std::string resolveOnce(const std::string& host);

}  // namespace portico::proxy::redis
