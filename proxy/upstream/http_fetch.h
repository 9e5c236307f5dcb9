// A small blocking HTTP/1.1 GET client for control-plane fetches (JWKS documents), not for
// proxying: each call runs its own private io_context with run_for on the calling thread,
// so call it from a background thread (the JWKS refresh thread), never from a worker.
//
// http:// and https:// URLs. https verifies the peer against the system CA store (plus
// HttpFetchOptions::extraCaPem when given), checks the host name (or IP address) against the
// certificate, sends SNI for host names, and requires TLS 1.2 or newer. The whole exchange
// (resolve, connect, handshake, request, response) is bounded by one timeout, except that a
// hanging DNS lookup may delay the return until getaddrinfo gives up. The body is limited
// (1 MiB by default). Only 2xx answers return a body; redirects are not followed. Errors
// name the URL and the step that failed.
//
// Beast and Asio stay in http_fetch.cc.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "proxy/common/expected.h"

namespace portico::proxy {

class UpstreamTls;

inline constexpr std::size_t kHttpFetchMaxBodyBytes = 1 << 20;

struct HttpFetchOptions {
  std::chrono::milliseconds timeout{5000};
  std::size_t maxBodyBytes = kHttpFetchMaxBodyBytes;
  std::string extraCaPem;  // additional trusted CA certificates (PEM), e.g. a private issuer's CA
  // https with these settings instead (a private CA only, names, a client certificate):
  // the context of an UpstreamTlsSpec (upstream_tls.h); extraCaPem is then not used.
  std::shared_ptr<UpstreamTls> tls;
  std::string userAgent = "portico";
};

// The parts of an http(s) URL that httpFetch uses. No user info, no fragment (dropped).
struct HttpUrl {
  bool tls = false;
  std::string host;    // without brackets for IPv6 literals
  std::uint16_t port = 0;
  std::string target;  // path and query, at least "/"
  std::string hostHeader() const;  // host[:port] (port only when not the scheme's default)
};
Expected<HttpUrl> parseHttpUrl(std::string_view url);

// GET `url`; the body of a 2xx response, or an Error such as
// "GET https://idp.example/jwks: HTTP 404 Not Found".
Expected<std::string> httpFetch(const std::string& url, const HttpFetchOptions& options);

// Default options with `timeout`.
Expected<std::string> httpFetch(const std::string& url, std::chrono::milliseconds timeout);

}  // namespace portico::proxy
