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

std::string_view serverNameExtensionHost(std::span<const unsigned char> body) {
  if (body.size() < 5) return {};
  const size_t listLength = size_t(body[0]) << 8 | body[1];
  const size_t nameLength = size_t(body[3]) << 8 | body[4];
  if (listLength + 2 != body.size() || body[2] != TLSEXT_NAMETYPE_host_name || nameLength + 5 > body.size()) return {};
  return {reinterpret_cast<const char*>(body.data() + 5), nameLength};
}

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
  std::string content = cert.certificatePem + '\0' + cert.privateKeyPem;
  if (const auto& auth = cert.clientAuth)
    content += '\0' + auth->caPem + '\0' + auth->crlPem + (auth->mode == ClientAuthMode::Require ? "R" : "O");
  if (cert.tls13Only) content += "\0tls13";
  return cert.name + '\0' + std::to_string(std::hash<std::string>{}(content));
}

// Optional client certificates: the handshake goes on whatever the verdict, which the
// request stage reads (SSL_get_verify_result) before trusting the certificate.
int acceptAnyVerdict(int, X509_STORE_CTX*) { return 1; }

struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};

// Asks clients for certificates issued by auth.caPem, verified against it (and its CRL).
void requireClientCertificates(ssl::context& ctx, const ClientAuthSpec& auth, const std::string& key) {
  SSL_CTX* native = ctx.native_handle();
  ctx.add_certificate_authority(boost::asio::buffer(auth.caPem));  // the verify store
  STACK_OF(X509_NAME)* names = sk_X509_NAME_new_null();            // what the CertificateRequest lists
  std::unique_ptr<BIO, BioFree> bio(BIO_new_mem_buf(auth.caPem.data(), int(auth.caPem.size())));
  while (X509* ca = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) {
    sk_X509_NAME_push(names, X509_NAME_dup(X509_get_subject_name(ca)));
    X509_free(ca);
  }
  ERR_clear_error();
  SSL_CTX_set_client_CA_list(native, names);
  if (!auth.crlPem.empty()) {
    X509_STORE* store = SSL_CTX_get_cert_store(native);
    std::unique_ptr<BIO, BioFree> crls(BIO_new_mem_buf(auth.crlPem.data(), int(auth.crlPem.size())));
    while (X509_CRL* crl = PEM_read_bio_X509_CRL(crls.get(), nullptr, nullptr, nullptr)) {
      X509_STORE_add_crl(store, crl);
      X509_CRL_free(crl);
    }
    ERR_clear_error();
    X509_STORE_set_flags(store, X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL);
  }
  if (auth.mode == ClientAuthMode::Require)
    SSL_CTX_set_verify(native, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
  else
    SSL_CTX_set_verify(native, SSL_VERIFY_PEER, acceptAnyVerdict);
  // Sessions are resumed only under the same client-auth settings: a session made for a
  // host without them cannot be resumed for one with them (OpenSSL compares this context).
  const std::string id = std::to_string(std::hash<std::string>{}(key));
  SSL_CTX_set_session_id_context(native, reinterpret_cast<const unsigned char*>(id.data()), unsigned(id.size()));
}
}  // namespace

void TlsContexts::configureBase(ssl::context& base) {
  applyServerPolicy(base);
  ticketKeys_.install(base.native_handle());
}

SslContextPtr TlsContexts::contextFor(const CertificateSpec& cert) {
  const std::string key = contentKey(cert);
  if (auto it = byContent_.find(key); it != byContent_.end()) return it->second;
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_server);
  applyServerPolicy(*ctx);
  ticketKeys_.install(ctx->native_handle());  // TLS 1.2 reads tickets after the SNI switch
  try {
    ctx->use_certificate_chain(boost::asio::buffer(cert.certificatePem));
    ctx->use_private_key(boost::asio::buffer(cert.privateKeyPem), ssl::context::pem);
    if (cert.clientAuth) requireClientCertificates(*ctx, *cert.clientAuth, key);
    // Read by Worker::onClientHello before the version is negotiated.
    if (cert.tls13Only) SSL_CTX_set_min_proto_version(ctx->native_handle(), TLS1_3_VERSION);
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
