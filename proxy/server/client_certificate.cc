#include "proxy/server/client_certificate.h"

#include <openssl/evp.h>
#include <openssl/x509v3.h>

#include <memory>

namespace portico::proxy {

namespace {

struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};

std::string rfc2253(X509_NAME* name) {
  std::unique_ptr<BIO, BioFree> bio(BIO_new(BIO_s_mem()));
  X509_NAME_print_ex(bio.get(), name, 0, XN_FLAG_RFC2253);
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, size_t(n));
}

bool safeInField(std::string_view value) {
  for (unsigned char c : value)
    if (c < 0x21 || c == 0x7f || c == ',' || c == ';' || c == '=' || c == '"') return false;
  return true;
}

}  // namespace

std::string forwardedClientCert(X509* cert) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  X509_digest(cert, EVP_sha256(), digest, &length);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "Hash=";
  for (unsigned i = 0; i < length; ++i) {
    out += kHex[digest[i] >> 4];
    out += kHex[digest[i] & 0xf];
  }
  out += ";Subject=\"";
  for (char c : rfc2253(X509_get_subject_name(cert))) {
    if (c == '"' || c == '\\') out += '\\';
    if (static_cast<unsigned char>(c) >= 0x20 && c != 0x7f) out += c;
  }
  out += '"';
  auto* names = static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  for (int i = 0; names && i < sk_GENERAL_NAME_num(names); ++i) {
    const GENERAL_NAME* name = sk_GENERAL_NAME_value(names, i);
    if (name->type != GEN_URI && name->type != GEN_DNS) continue;
    const ASN1_IA5STRING* text = name->type == GEN_URI ? name->d.uniformResourceIdentifier : name->d.dNSName;
    std::string_view value(reinterpret_cast<const char*>(ASN1_STRING_get0_data(text)), size_t(ASN1_STRING_length(text)));
    if (!safeInField(value)) continue;
    out += name->type == GEN_URI ? ";URI=" : ";DNS=";
    out += value;
  }
  GENERAL_NAMES_free(names);
  return out;
}

TlsSessionFacts tlsSessionFacts(SSL* ssl) {
  TlsSessionFacts facts;
  if (const char* name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name)) {
    facts.serverName = name;
    for (char& c : facts.serverName) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  if (X509* cert = SSL_get_peer_certificate(ssl)) {
    if (SSL_get_verify_result(ssl) == X509_V_OK) facts.clientCertificate = forwardedClientCert(cert);
    X509_free(cert);
  }
  return facts;
}

std::optional<Refusal> clientAuthRefusal(const ClientAuthSpec& auth, const TlsSessionFacts* session,
                                         std::string_view host) {
  if (!session || session->serverName != host)
    return Refusal{421, "this host takes requests only over TLS connections made for it (SNI), with a client "
                        "certificate"};
  if (auth.mode == ClientAuthMode::Require && session->clientCertificate.empty())
    return Refusal{403, "a client certificate is required"};
  return std::nullopt;
}

}  // namespace portico::proxy
