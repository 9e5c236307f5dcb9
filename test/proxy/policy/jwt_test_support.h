// Test-only helpers for the JWKS and JWT tests: real keys generated with OpenSSL, their JWK
// form, and a signer producing compact JWS tokens. Not compiled on its own (the test target
// globs *.cc); included by jwks_tests.cc and jwt_tests.cc.
#pragma once

#include <doctest/doctest.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <string>

namespace jwt_test {

using Pkey = std::shared_ptr<EVP_PKEY>;

inline Pkey rsaKey(unsigned bits = 2048) {
  EVP_PKEY* k = EVP_RSA_gen(bits);
  REQUIRE(k != nullptr);
  return Pkey(k, EVP_PKEY_free);
}

inline Pkey ecKey(const char* curve) {  // "P-256" or "P-384"
  EVP_PKEY* k = EVP_EC_gen(curve);
  REQUIRE(k != nullptr);
  return Pkey(k, EVP_PKEY_free);
}

inline std::string randomBytes(std::size_t n) {
  std::string s(n, '\0');
  REQUIRE(RAND_bytes(reinterpret_cast<unsigned char*>(s.data()), static_cast<int>(n)) == 1);
  return s;
}

inline std::string b64url(std::string_view raw) {
  static const char* alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  std::size_t i = 0;
  for (; i + 2 < raw.size(); i += 3) {
    const unsigned v = (static_cast<unsigned char>(raw[i]) << 16) | (static_cast<unsigned char>(raw[i + 1]) << 8) |
                       static_cast<unsigned char>(raw[i + 2]);
    out += alphabet[(v >> 18) & 63];
    out += alphabet[(v >> 12) & 63];
    out += alphabet[(v >> 6) & 63];
    out += alphabet[v & 63];
  }
  if (raw.size() - i == 1) {
    const unsigned v = static_cast<unsigned char>(raw[i]) << 16;
    out += alphabet[(v >> 18) & 63];
    out += alphabet[(v >> 12) & 63];
  } else if (raw.size() - i == 2) {
    const unsigned v = (static_cast<unsigned char>(raw[i]) << 16) | (static_cast<unsigned char>(raw[i + 1]) << 8);
    out += alphabet[(v >> 18) & 63];
    out += alphabet[(v >> 12) & 63];
    out += alphabet[(v >> 6) & 63];
  }
  return out;
}

inline std::string bnParam(EVP_PKEY* k, const char* name, int pad = 0) {
  BIGNUM* bn = nullptr;
  REQUIRE(EVP_PKEY_get_bn_param(k, name, &bn) == 1);
  std::string out(pad > 0 ? static_cast<std::size_t>(pad) : static_cast<std::size_t>(BN_num_bytes(bn)), '\0');
  if (pad > 0)
    REQUIRE(BN_bn2binpad(bn, reinterpret_cast<unsigned char*>(out.data()), pad) == pad);
  else
    BN_bn2bin(bn, reinterpret_cast<unsigned char*>(out.data()));
  BN_free(bn);
  return out;
}

inline nlohmann::json rsaJwk(const Pkey& k, const std::string& kid, const std::string& alg = "") {
  nlohmann::json j = {{"kty", "RSA"},
                      {"n", b64url(bnParam(k.get(), OSSL_PKEY_PARAM_RSA_N))},
                      {"e", b64url(bnParam(k.get(), OSSL_PKEY_PARAM_RSA_E))}};
  if (!kid.empty()) j["kid"] = kid;
  if (!alg.empty()) j["alg"] = alg;
  return j;
}

inline nlohmann::json ecJwk(const Pkey& k, const std::string& crv, const std::string& kid, const std::string& alg = "") {
  const int size = crv == "P-256" ? 32 : 48;
  nlohmann::json j = {{"kty", "EC"},
                      {"crv", crv},
                      {"x", b64url(bnParam(k.get(), OSSL_PKEY_PARAM_EC_PUB_X, size))},
                      {"y", b64url(bnParam(k.get(), OSSL_PKEY_PARAM_EC_PUB_Y, size))}};
  if (!kid.empty()) j["kid"] = kid;
  if (!alg.empty()) j["alg"] = alg;
  return j;
}

inline nlohmann::json octJwk(const std::string& secret, const std::string& kid, const std::string& alg = "") {
  nlohmann::json j = {{"kty", "oct"}, {"k", b64url(secret)}};
  if (!kid.empty()) j["kid"] = kid;
  if (!alg.empty()) j["alg"] = alg;
  return j;
}

inline std::string publicPem(const Pkey& k) {
  BIO* bio = BIO_new(BIO_s_mem());
  REQUIRE(PEM_write_bio_PUBKEY(bio, k.get()) == 1);
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio, &data);
  std::string pem(data, static_cast<std::size_t>(n));
  BIO_free(bio);
  return pem;
}

inline std::string hmacSha256(const std::string& key, std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  std::size_t len = 0;
  REQUIRE(EVP_Q_mac(nullptr, "HMAC", nullptr, "SHA256", nullptr, key.data(), key.size(),
                    reinterpret_cast<const unsigned char*>(data.data()), data.size(), out, sizeof out, &len) != nullptr);
  return std::string(reinterpret_cast<const char*>(out), len);
}

inline std::string evpSign(const Pkey& k, const std::string& alg, std::string_view data) {
  const EVP_MD* md = alg.ends_with("384") ? EVP_sha384() : alg.ends_with("512") ? EVP_sha512() : EVP_sha256();
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  EVP_PKEY_CTX* pctx = nullptr;
  REQUIRE(EVP_DigestSignInit(ctx, &pctx, md, nullptr, k.get()) == 1);
  if (alg == "PS256") {
    REQUIRE(EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) == 1);
    REQUIRE(EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) == 1);
  }
  std::size_t len = 0;
  REQUIRE(EVP_DigestSign(ctx, nullptr, &len, reinterpret_cast<const unsigned char*>(data.data()), data.size()) == 1);
  std::string sig(len, '\0');
  REQUIRE(EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(sig.data()), &len,
                         reinterpret_cast<const unsigned char*>(data.data()), data.size()) == 1);
  sig.resize(len);
  EVP_MD_CTX_free(ctx);
  if (alg.starts_with("ES")) {  // DER -> JOSE r||s
    const int half = alg == "ES256" ? 32 : 48;
    const unsigned char* p = reinterpret_cast<const unsigned char*>(sig.data());
    ECDSA_SIG* ecdsa = d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(sig.size()));
    REQUIRE(ecdsa != nullptr);
    std::string raw(2 * static_cast<std::size_t>(half), '\0');
    BN_bn2binpad(ECDSA_SIG_get0_r(ecdsa), reinterpret_cast<unsigned char*>(raw.data()), half);
    BN_bn2binpad(ECDSA_SIG_get0_s(ecdsa), reinterpret_cast<unsigned char*>(raw.data()) + half, half);
    ECDSA_SIG_free(ecdsa);
    return raw;
  }
  return sig;
}

// A compact JWS of `header` and `claims` (both dumped as they are) signed for header["alg"]
// with `key` (asymmetric algorithms) or `secret` (HS256).
inline std::string signToken(const nlohmann::json& header, const nlohmann::json& claims, const Pkey& key,
                             const std::string& secret = "") {
  const std::string input = b64url(header.dump()) + "." + b64url(claims.dump());
  const std::string alg = header.value("alg", "");
  const std::string sig = alg == "HS256" ? hmacSha256(secret, input) : evpSign(key, alg, input);
  return input + "." + b64url(sig);
}

}  // namespace jwt_test
