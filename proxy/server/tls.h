// Server-side TLS: one OpenSSL context per certificate, chosen by SNI, and a base context
// per worker that owns the policy (TLS 1.2 minimum, ALPN http/1.1). Internal to the proxy.
#pragma once

#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>

#include <boost/asio/ssl/context.hpp>

#include "proxy/config/route_table.h"
#include "proxy/server/session_tickets.h"

namespace portico::proxy {

using SslContextPtr = std::shared_ptr<boost::asio::ssl::context>;

// The certificates of one table version, immutable once built.
class CertificateStore {
 public:
  // The context for an SNI name (exact, then "*.parent"), else the default; may be null.
  SSL_CTX* select(std::string_view serverName) const;

 private:
  friend class TlsContexts;
  std::unordered_map<std::string, SslContextPtr> exact_;
  std::unordered_map<std::string, SslContextPtr> wildcard_;  // key: the parent domain
  SslContextPtr default_;
};
using CertificateStoreConstSharedPtr = std::shared_ptr<const CertificateStore>;

// Process-wide: builds a CertificateStore per table version once, and reuses the OpenSSL
// context of a certificate whose PEMs did not change, so session tickets survive swaps.
// A table whose certificate list is the previous table's list object (RouteTable::build
// shares it when nothing changed) gets the same store without looking at a certificate.
class TlsContexts {
 public:
  explicit TlsContexts(std::chrono::milliseconds ticketKeyRotation) : ticketKeys_(ticketKeyRotation) {}
  // Any thread.
  CertificateStoreConstSharedPtr forTable(const RouteTable& table);
  // Portico's policy (applyServerPolicy) and the process's session ticket keys on a
  // worker's base context, the one every TLS connection starts with.
  void configureBase(boost::asio::ssl::context& base);

 private:
  SslContextPtr contextFor(const CertificateSpec& cert);
  SessionTicketKeys ticketKeys_;
  std::mutex mu_;
  uint64_t builtVersion_ = 0;
  CertificateListConstSharedPtr builtFrom_;  // held, so that its address cannot be reused
  CertificateStoreConstSharedPtr built_;
  std::unordered_map<std::string, SslContextPtr> byContent_;  // key: name + PEM hash
};

// The host name of a ClientHello's server_name extension body (RFC 6066 3: a list of
// (type, length, name); the first entry, if it is a host_name), or "" when the body is
// malformed. OpenSSL rejects a malformed extension later; this only must not overread.
std::string_view serverNameExtensionHost(std::span<const unsigned char> body);

// Applies Portico's TLS policy to a server context: TLS 1.2+, server cipher order, no
// compression or renegotiation, ALPN "http/1.1".
void applyServerPolicy(boost::asio::ssl::context& ctx);

}  // namespace portico::proxy
