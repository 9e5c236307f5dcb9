// Fuzz target: JWKS documents and JWT bearer tokens (proxy/policy/jwks.*, jwt.*).
//
// Byte 0 picks the mode, the rest is the input:
//   0  a JWKS document: parseJwks, then keyFitsAlg for every key and algorithm;
//   1  an Authorization header value: bearerToken, then JwtVerifier::verify of the token
//      against a fixed key set (RSA, EC P-256, HMAC secret);
//   2  "HEADER-JSON\nPAYLOAD-JSON": the target encodes both and signs them with the fixed
//      HMAC secret, so that the fuzzer reaches header checks, key selection and the claim
//      checks (exp, nbf, iss, aud) behind a valid signature; forwarded claim headers of a
//      verified token must hold no control character;
//   3  a JSON value: claimAsString of every top-level member, which must hold no control
//      character and be at most 4096 bytes.
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "fuzz/fuzz_input.h"
#include "proxy/policy/jwks.h"
#include "proxy/policy/jwt.h"

namespace {

using namespace portico::proxy;
using namespace portico::proxy::policy;
using portico::fuzz::check;

constexpr std::string_view kHmacSecret = "portico-fuzz-hmac-secret-0123456789abcdef";

// Generated once with openssl for this target (public halves only): rsa1 (RS256, 2048 bit),
// ec1 (P-256), hs1 (HS256, kHmacSecret).
constexpr std::string_view kJwks = R"({"keys": [
 {"kty": "RSA", "kid": "rsa1", "alg": "RS256", "use": "sig", "n": "vGzXf_KRscLvLiHb8GNY-vOUakqZGKt3tBSWJUFh7CM4497hGkHwWCy0CoBCgwE170FUSduFNauVdCtMnItOIYxSVKtUbiugpHok12k0UdJ4f8_HeiIKIAxM_iO4Bpnl_POD7OcV0uZo5KlN8ofWbtV8hlZ-cANJ9kX5pCLdvIVnmIxuVMbIjbinIndvbTKBdPPA6T5-DnS-p4TRekCtYBPg2_xKuNnIbP3mMnETwlbR70y82feb0kUIsg3f8P2ydwq4B3e3QQPdY6NhvD592yer6FQ26rhHMqjmt7KcnIZCj2sGyui_GU7w3RMwLWphrHS4Ne86WfBJ0MTuSoxP-w", "e": "AQAB"},
 {"kty": "EC", "kid": "ec1", "crv": "P-256", "x": "fQTd0r1HJknrEYyOH0pJz422Ieh9dELRkT3vsWnj9yM", "y": "vNb5S8l9XO3pVNceAaRuaNtih3y8mFYgPEGzEDB8e24"},
 {"kty": "oct", "kid": "hs1", "alg": "HS256", "k": "cG9ydGljby1mdXp6LWhtYWMtc2VjcmV0LTAxMjM0NTY3ODlhYmNkZWY"}]})";

// 2027-01-15T08:00:00Z: the seed tokens carry exp/nbf around it.
const auto kNow = std::chrono::system_clock::time_point(std::chrono::seconds(1800000000));

std::string b64url(std::string_view raw) {
  static constexpr char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  for (unsigned char c : raw) {
    acc = (acc << 8) | c;
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out += alphabet[(acc >> bits) & 63];
    }
  }
  if (bits > 0) out += alphabet[(acc << (6 - bits)) & 63];
  return out;
}

JwtAuthSpec fixedSpec() {
  JwtAuthSpec spec;
  spec.issuer = "https://issuer.example";
  spec.audiences = {"portico", "api"};
  spec.jwks = std::string(kJwks);
  spec.forwardClaims = {{"sub", "X-User"}, {"email", "X-Email"}, {"roles", "X-Roles"}, {"admin", "X-Admin"}};
  return spec;
}

const std::shared_ptr<const KeySet>& fixedKeys() {
  static const std::shared_ptr<const KeySet> keys = [] {
    auto parsed = parseJwks(kJwks);
    if (!parsed || parsed->keys.size() != 3) portico::fuzz::fail("fixed JWKS parses into 3 keys");
    return std::make_shared<const KeySet>(std::move(*parsed));
  }();
  return keys;
}

void checkHeaderValue(std::string_view v) {
  check(v.size() <= 4096, "claim header value at most 4096 bytes", v.substr(0, 64));
  for (unsigned char c : v) check(c >= 0x20 && c != 0x7f, "claim header value holds no control character", v);
}

void verifyToken(std::string_view token) {
  // A fresh verifier per input (tiny cache), so that every run is reproducible on its own;
  // verify twice so that the second goes through the verified-token cache.
  const JwtVerifier verifier(fixedSpec(), fixedKeys(), 4);
  const auto first = verifier.verify(token, kNow);
  const auto second = verifier.verify(token, kNow);
  check(first.has_value() == second.has_value(), "a cached verdict equals the first one", token.substr(0, 64));
  if (!first) return;
  check(first->is_object(), "verified claims are an object");
  for (const auto& [header, value] : forwardedClaimHeaders(*first, verifier.spec().forwardClaims)) checkHeaderValue(value);
}

void signedToken(std::string_view in) {
  const size_t nl = in.find('\n');
  if (nl == std::string_view::npos) return;
  const std::string signingInput = b64url(in.substr(0, nl)) + "." + b64url(in.substr(nl + 1));
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned macLen = 0;
  if (!HMAC(EVP_sha256(), kHmacSecret.data(), static_cast<int>(kHmacSecret.size()),
            reinterpret_cast<const unsigned char*>(signingInput.data()), signingInput.size(), mac, &macLen))
    portico::fuzz::fail("HMAC");
  verifyToken(signingInput + "." + b64url(std::string_view(reinterpret_cast<const char*>(mac), macLen)));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0 || size > 64 * 1024) return 0;
  const std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 4) {
    case 0: {
      auto set = parseJwks(in);
      if (!set) return 0;
      check(set->keys.size() <= kMaxJwksKeys, "at most kMaxJwksKeys keys");
      for (const Jwk& key : set->keys) {
        check((key.kty == JwkType::Oct) == (key.publicKey == nullptr), "RSA and EC keys carry an EVP_PKEY");
        for (std::string_view alg : {"RS256", "RS384", "RS512", "PS256", "ES256", "ES384", "HS256", "none", ""})
          (void)keyFitsAlg(key, alg);
        if (key.kty == JwkType::Oct) check(key.secret.size() >= 32, "oct secrets are at least 32 bytes");
      }
      return 0;
    }
    case 1: {
      const std::optional<std::string_view> token = bearerToken(in);
      verifyToken(token ? *token : in);
      return 0;
    }
    case 2:
      signedToken(in);
      return 0;
    default: {
      const nlohmann::json doc = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
      if (!doc.is_object()) return 0;
      for (const auto& [name, value] : doc.items())
        if (auto text = claimAsString(doc, name)) checkHeaderValue(*text);
      return 0;
    }
  }
}
