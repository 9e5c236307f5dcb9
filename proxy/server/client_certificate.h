// Downstream client certificates (mTLS): what a TLS connection learned in its handshake,
// and the request-time rules for hosts whose certificate asks for client certificates.
// Internal to the proxy.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include <openssl/ssl.h>

#include "proxy/config/route_spec.h"

namespace portico::proxy {

// Kept per TLS connection from its handshake on.
struct TlsSessionFacts {
  std::string serverName;         // SNI, lower case; empty when the client sent none
  std::string clientCertificate;  // X-Forwarded-Client-Cert value; empty: no verified one
};

// The facts of a finished handshake. The client certificate counts only when its
// verification passed (Optional mode lets the handshake go on either way).
TlsSessionFacts tlsSessionFacts(SSL* ssl);

// Envoy's X-Forwarded-Client-Cert element for `cert`:
//   Hash=<SHA-256 of the DER, hex>;Subject="<RFC 2253>";URI=<uri SAN>;DNS=<dns SAN>...
// with '"' and '\' in the subject escaped, and SANs with ',', ';', '=' or '"' left out
// rather than allowed to break the field.
std::string forwardedClientCert(X509* cert);

struct Refusal {
  unsigned status;
  std::string_view message;
};

// A request for `host` whose certificate has `auth`, on a connection with `session` (null:
// plain HTTP): 421 unless it came over TLS with `host` as SNI (a certificate verified for
// one host must not serve another), 403 without a verified certificate in Require mode
// (the settings changed after the handshake).
std::optional<Refusal> clientAuthRefusal(const ClientAuthSpec& auth, const TlsSessionFacts* session,
                                         std::string_view host);

}  // namespace portico::proxy
