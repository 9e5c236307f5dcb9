// Client TLS for upstreams: one context per distinct UpstreamTlsSpec (UpstreamRegistry
// keeps them), shared by every worker and the health checker (an SSL_CTX is safe to create connections from on any
// thread once configured). It requires TLS 1.2 or newer, offers ALPN http/1.1 (the relay
// speaks HTTP/1.1), verifies the peer unless the spec says insecureSkipVerify, presents
// the spec's client certificate when the upstream asks, and resumes sessions: the newest
// session of each endpoint is kept here and offered on the next connection to it, so a
// pool refilling after the upstream closed its connections pays an abbreviated handshake.
//
// A CA or certificate rotation is a new spec, hence a new context; pooled connections
// made with the old one are not reused (UpstreamPool::take matches the context).
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include <boost/asio/ssl/context.hpp>
#include <boost/system/error_code.hpp>

#include "proxy/common/expected.h"
#include "proxy/config/route_spec.h"

namespace portico::proxy {

class UpstreamTls {
 public:
  // Fails when a PEM block does not load (the text says which and why).
  // Callers share contexts through UpstreamRegistry::tls().
  static Expected<std::shared_ptr<UpstreamTls>> create(const UpstreamTlsSpec& spec);
  // Everything that makes two specs need different contexts.
  static std::string identity(const UpstreamTlsSpec& spec);
  ~UpstreamTls();
  UpstreamTls(const UpstreamTls&) = delete;
  UpstreamTls& operator=(const UpstreamTls&) = delete;

  boost::asio::ssl::context& context() { return context_; }

  // Sets up a new connection's `ssl` to `endpointHost` (the pool key `endpoint`, which
  // must outlive `ssl`): SNI, the names the certificate must carry, and the endpoint's
  // last session. False if OpenSSL refused a name.
  bool prepare(SSL* ssl, const std::string& endpointHost, const std::string& endpoint);

  // Why a handshake failed, for the 502 and the log: the certificate check's verdict when
  // that failed ("certificate verify failed: unable to get local issuer certificate"),
  // else the TLS error.
  static std::string handshakeFailure(SSL* ssl, const boost::system::error_code& ec);

 private:
  explicit UpstreamTls(const UpstreamTlsSpec& spec);
  static int onNewSession(SSL* ssl, SSL_SESSION* session);

  const UpstreamTlsSpec spec_;
  boost::asio::ssl::context context_;
  std::mutex sessionsMutex_;  // connects (not requests) take it, on any worker
  std::unordered_map<std::string, SSL_SESSION*> sessions_;  // by endpoint, owned
};
using UpstreamTlsPtr = std::shared_ptr<UpstreamTls>;

}  // namespace portico::proxy
