#include "proxy/upstream/upstream_tls.h"

#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <boost/asio/ip/address.hpp>

namespace portico::proxy {

namespace {

namespace ssl = boost::asio::ssl;

// Asio keeps its own callbacks in the SSL and SSL_CTX "app data" (ex_data slot 0) and
// deletes them, so Portico's pointers go in slots of their own.
int contextSlot() {
  static const int slot = SSL_CTX_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return slot;
}
int connectionSlot() {
  static const int slot = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return slot;
}

bool isIpAddress(const std::string& host) {
  boost::system::error_code ec;
  boost::asio::ip::make_address(host, ec);
  return !ec;
}

constexpr unsigned char kAlpnHttp11[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};

}  // namespace

std::string UpstreamTls::identity(const UpstreamTlsSpec& s) {
  std::string id;
  for (const std::string* part : {&s.serverName, &s.caPem, &s.clientCertificatePem, &s.clientKeyPem}) {
    id += *part;
    id += '\0';
  }
  for (const std::string& name : s.subjectAltNames) {
    id += name;
    id += '\1';
  }
  id += s.insecureSkipVerify ? 'i' : 'v';
  return id;
}

UpstreamTls::UpstreamTls(const UpstreamTlsSpec& spec) : spec_(spec), context_(ssl::context::tls_client) {}

UpstreamTls::~UpstreamTls() {
  for (auto& [endpoint, session] : sessions_) SSL_SESSION_free(session);
}

Expected<UpstreamTlsPtr> UpstreamTls::create(const UpstreamTlsSpec& spec) {
  UpstreamTlsPtr tls(new UpstreamTls(spec));
  SSL_CTX* ctx = tls->context_.native_handle();
  boost::system::error_code ec;
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_alpn_protos(ctx, kAlpnHttp11, sizeof kAlpnHttp11);
  if (spec.caPem.empty()) {
    tls->context_.set_default_verify_paths(ec);
    if (ec) return makeError("loading the system trust store: " + ec.message());
  } else {
    tls->context_.add_certificate_authority(boost::asio::buffer(spec.caPem), ec);
    if (ec) return makeError("loading the CA certificates: " + ec.message());
  }
  if (!spec.clientCertificatePem.empty()) {
    tls->context_.use_certificate_chain(boost::asio::buffer(spec.clientCertificatePem), ec);
    if (ec) return makeError("loading the client certificate: " + ec.message());
    tls->context_.use_private_key(boost::asio::buffer(spec.clientKeyPem), ssl::context::pem, ec);
    if (ec) return makeError("loading the client key: " + ec.message());
    if (SSL_CTX_check_private_key(ctx) != 1) return makeError("the client key does not match its certificate");
  }
  tls->context_.set_verify_mode(spec.insecureSkipVerify ? ssl::verify_none : ssl::verify_peer);
  // Client sessions are handed to onNewSession (TLS 1.3 tickets arrive after the
  // handshake, so this is the one place that sees them all) and kept per endpoint here.
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
  SSL_CTX_set_ex_data(ctx, contextSlot(), tls.get());
  SSL_CTX_sess_set_new_cb(ctx, &UpstreamTls::onNewSession);
  return tls;
}

bool UpstreamTls::prepare(SSL* ssl, const std::string& endpointHost, const std::string& endpoint) {
  const std::string& name = spec_.serverName.empty() ? endpointHost : spec_.serverName;
  if (!isIpAddress(name) && SSL_set_tlsext_host_name(ssl, name.c_str()) != 1) return false;
  if (!spec_.insecureSkipVerify) {
    X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
    X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    const std::vector<std::string> single{name};
    const auto& names = spec_.subjectAltNames.empty() ? single : spec_.subjectAltNames;
    bool first = true;
    for (const std::string& n : names) {
      if (isIpAddress(n)) {
        if (X509_VERIFY_PARAM_set1_ip_asc(param, n.c_str()) != 1) return false;
      } else {
        if ((first ? X509_VERIFY_PARAM_set1_host(param, n.c_str(), 0) : X509_VERIFY_PARAM_add1_host(param, n.c_str(), 0)) != 1)
          return false;
        first = false;
      }
    }
  }
  SSL_set_ex_data(ssl, connectionSlot(), const_cast<std::string*>(&endpoint));
  std::lock_guard lock(sessionsMutex_);
  if (auto it = sessions_.find(endpoint); it != sessions_.end()) SSL_set_session(ssl, it->second);
  return true;
}

int UpstreamTls::onNewSession(SSL* ssl, SSL_SESSION* session) {
  auto* self = static_cast<UpstreamTls*>(SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), contextSlot()));
  auto* endpoint = static_cast<const std::string*>(SSL_get_ex_data(ssl, connectionSlot()));
  if (!self || !endpoint) return 0;
  // A copy: OpenSSL marks a connection's own session not resumable when the connection is
  // freed without a TLS shutdown, which is how Portico drops a finished upstream connection
  // (the TCP close says enough). The session itself stays good for the next connection.
  SSL_SESSION* copy = SSL_SESSION_dup(session);
  if (!copy) return 0;
  std::lock_guard lock(self->sessionsMutex_);
  SSL_SESSION*& slot = self->sessions_[*endpoint];
  if (slot) SSL_SESSION_free(slot);
  slot = copy;
  return 0;  // the original stays OpenSSL's
}

std::string UpstreamTls::handshakeFailure(SSL* ssl, const boost::system::error_code& ec) {
  const long verify = SSL_get_verify_result(ssl);
  if (verify != X509_V_OK) return std::string("certificate verify failed: ") + X509_verify_cert_error_string(verify);
  return ec.message();
}

}  // namespace portico::proxy
