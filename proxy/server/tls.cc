#include "proxy/server/tls.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <spdlog/spdlog.h>

#include <functional>

namespace portico::proxy {

namespace ssl = boost::asio::ssl;

SSL_CTX* CertificateStore::select(std::string_view serverName) const {
  if (!serverName.empty()) {
    std::string name(serverName);
    for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (auto it = exact_.find(name); it != exact_.end()) return it->second->native_handle();
    if (auto dot = name.find('.'); dot != std::string::npos) {
      if (auto it = wildcard_.find(name.substr(dot + 1)); it != wildcard_.end())
        return it->second->native_handle();
    }
  }
  return default_ ? default_->native_handle() : nullptr;
}

namespace {
int selectHttp11(SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in,
                 unsigned int inlen, void*) {
  static constexpr unsigned char kHttp11[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
  unsigned char* selected = nullptr;
  if (SSL_select_next_proto(&selected, outlen, kHttp11, sizeof kHttp11, in, inlen) ==
      OPENSSL_NPN_NEGOTIATED) {
    *out = selected;
    return SSL_TLSEXT_ERR_OK;
  }
  // A client that offers only h2 still gets HTTP/1.1 rather than a failed handshake.
  return SSL_TLSEXT_ERR_NOACK;
}
}  // namespace

void applyServerPolicy(ssl::context& ctx) {
  SSL_CTX* native = ctx.native_handle();
  SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION);
  SSL_CTX_set_options(native, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
                                  SSL_OP_CIPHER_SERVER_PREFERENCE);
  // Forward-secret AEAD suites only for TLS 1.2 (TLS 1.3 suites are all fine).
  SSL_CTX_set_cipher_list(native,
                          "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
                          "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
                          "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305");
  SSL_CTX_set_alpn_select_cb(native, selectHttp11, nullptr);
}

namespace {
std::string contentKey(const CertificateSpec& cert) {
  return cert.name + '\0' +
         std::to_string(std::hash<std::string>{}(cert.certificatePem + '\0' + cert.privateKeyPem));
}
}  // namespace

SslContextPtr TlsContexts::contextFor(const CertificateSpec& cert) {
  const std::string key = contentKey(cert);
  if (auto it = byContent_.find(key); it != byContent_.end()) return it->second;
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_server);
  applyServerPolicy(*ctx);
  try {
    ctx->use_certificate_chain(boost::asio::buffer(cert.certificatePem));
    ctx->use_private_key(boost::asio::buffer(cert.privateKeyPem), ssl::context::pem);
  } catch (const boost::system::system_error& e) {
    // render validates PEMs before they reach a table; this guards the invariant anyway.
    spdlog::error("tls: certificate {} rejected by OpenSSL: {}", cert.name, e.what());
    return nullptr;
  }
  byContent_.emplace(key, ctx);
  return ctx;
}

CertificateStoreConstSharedPtr TlsContexts::forTable(const RouteTable& table) {
  std::lock_guard lock(mu_);
  if (built_ && builtVersion_ == table.version()) return built_;
  if (built_ && builtFrom_ == table.sharedCertificates()) {
    builtVersion_ = table.version();
    return built_;
  }
  auto store = std::make_shared<CertificateStore>();
  std::unordered_map<std::string, SslContextPtr> live;
  for (const auto& cert : table.certificates()) {
    SslContextPtr ctx = contextFor(cert);
    if (!ctx) continue;
    live.emplace(contentKey(cert), ctx);
    if (cert.isDefault || !store->default_) store->default_ = ctx;
    for (const auto& host : cert.hosts) {
      if (host.starts_with("*."))
        store->wildcard_.emplace(host.substr(2), ctx);
      else
        store->exact_.emplace(host, ctx);
    }
  }
  byContent_ = std::move(live);  // forget certificates no table uses any more
  builtVersion_ = table.version();
  builtFrom_ = table.sharedCertificates();
  built_ = std::move(store);
  return built_;
}

}  // namespace portico::proxy
