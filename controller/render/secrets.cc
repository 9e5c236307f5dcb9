#include "controller/render/secrets.h"

#include <memory>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "controller/render/field_path.h"

namespace portico::controller {
namespace {

using nlohmann::json;

constexpr std::string_view kTlsType = "kubernetes.io/tls";

int base64Value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

struct BioDeleter {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct X509Deleter {
  void operator()(X509* x) const { X509_free(x); }
};
struct PkeyDeleter {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};

// Never prompt for a pass phrase (OpenSSL's default callback reads the terminal).
int noPassphrase(char*, int, int, void*) { return -1; }

std::unique_ptr<BIO, BioDeleter> memoryBio(const std::string& data) {
  return std::unique_ptr<BIO, BioDeleter>(BIO_new_mem_buf(data.data(), static_cast<int>(data.size())));
}

// One of tls.crt / tls.key: stringData wins, then data (base64).
Expected<std::string> secretValue(const json& secret, const std::string& key) {
  const json* stringData = member(secret, "stringData");
  if (stringData && stringData->is_object()) {
    const json* v = member(*stringData, key);
    if (v) {
      if (!v->is_string()) return makeError(childField("stringData", key) + ": must be a string");
      return v->get<std::string>();
    }
  }
  const json* data = member(secret, "data");
  const json* v = data && data->is_object() ? member(*data, key) : nullptr;
  if (!v) return makeError(childField("data", key) + ": missing");
  if (!v->is_string()) return makeError(childField("data", key) + ": must be a string");
  auto decoded = decodeBase64(v->get_ref<const std::string&>());
  if (!decoded) return makeError(childField("data", key) + ": " + decoded.error().message);
  return std::move(decoded).value();
}

}  // namespace

Expected<std::string> decodeBase64(std::string_view text) {
  std::string out;
  out.reserve(text.size() * 3 / 4);
  uint32_t acc = 0;
  int bits = 0;
  size_t symbols = 0;
  size_t padding = 0;
  for (char c : text) {
    if (c == ' ' || c == '\n' || c == '\r' || c == '\t') continue;
    if (c == '=') {
      ++padding;
      continue;
    }
    if (padding > 0) return makeError("not valid base64 (data after padding)");
    int v = base64Value(c);
    if (v < 0) return makeError("not valid base64");
    ++symbols;
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xff));
    }
  }
  if (symbols % 4 == 1 || padding > 2 || (padding > 0 && (symbols + padding) % 4 != 0)) {
    return makeError("not valid base64 (bad length)");
  }
  return out;
}

Expected<TlsKeyPair> decodeTlsSecret(const json& secret) {
  const json* type = member(secret, "type");
  if (!type || !type->is_string() || type->get_ref<const std::string&>() != kTlsType) {
    std::string actual = type && type->is_string() ? type->get<std::string>() : "Opaque";
    return makeError("type is \"" + actual + "\", want \"" + std::string(kTlsType) + "\"");
  }
  auto cert = secretValue(secret, "tls.crt");
  if (!cert) return cert.error();
  auto key = secretValue(secret, "tls.key");
  if (!key) return key.error();

  ERR_clear_error();
  auto certBio = memoryBio(*cert);
  std::unique_ptr<X509, X509Deleter> x509(PEM_read_bio_X509(certBio.get(), nullptr, noPassphrase, nullptr));
  if (!x509) {
    ERR_clear_error();
    return makeError("tls.crt: no PEM certificate");
  }
  auto keyBio = memoryBio(*key);
  std::unique_ptr<EVP_PKEY, PkeyDeleter> pkey(
      PEM_read_bio_PrivateKey(keyBio.get(), nullptr, noPassphrase, nullptr));
  if (!pkey) {
    ERR_clear_error();
    return makeError("tls.key: no PEM private key (an encrypted key is not supported)");
  }
  if (X509_check_private_key(x509.get(), pkey.get()) != 1) {
    ERR_clear_error();
    return makeError("tls.key does not match the certificate in tls.crt");
  }
  return TlsKeyPair{std::move(cert).value(), std::move(key).value()};
}

std::optional<TlsKeyPair> resolveTlsSecret(const ObjectIndex& index, const std::string& ns,
                                           const std::string& name, const std::string& field,
                                           Reporter& reporter) {
  std::string ref = "secret \"" + ns + "/" + name + "\"";
  const json* secret = index.secret(ns, name);
  if (!secret) {
    reporter.unresolved(field, "SecretNotFound", ref + " not found");
    return std::nullopt;
  }
  auto pair = decodeTlsSecret(*secret);
  if (!pair) {
    reporter.unresolved(field, "InvalidSecret", ref + " is invalid: " + pair.error().message);
    return std::nullopt;
  }
  return std::move(pair).value();
}

}  // namespace portico::controller
