#include "proxy/policy/jwt.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

#include <atomic>
#include <cmath>
#include <deque>
#include <mutex>
#include <unordered_map>

#include "proxy/policy/sha256.h"

namespace portico::proxy::policy {

namespace {

enum class Alg { RS256, RS384, RS512, PS256, ES256, ES384, HS256 };

std::optional<Alg> parseAlg(std::string_view s) {
  if (s == "RS256") return Alg::RS256;
  if (s == "RS384") return Alg::RS384;
  if (s == "RS512") return Alg::RS512;
  if (s == "PS256") return Alg::PS256;
  if (s == "ES256") return Alg::ES256;
  if (s == "ES384") return Alg::ES384;
  if (s == "HS256") return Alg::HS256;
  return std::nullopt;
}

const EVP_MD* digestOf(Alg alg) {
  switch (alg) {
    case Alg::RS384:
    case Alg::ES384:
      return EVP_sha384();
    case Alg::RS512:
      return EVP_sha512();
    default:
      return EVP_sha256();
  }
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    auto lower = [](char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; };
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

std::string sha256Bytes(std::string_view data) {
  const Sha256Digest digest = sha256(data);
  return std::string(reinterpret_cast<const char*>(digest.data()), digest.size());
}

const unsigned char* bytes(std::string_view s) { return reinterpret_cast<const unsigned char*>(s.data()); }

// RS*, PS256 and (DER) ES* signatures.
bool verifyEvp(EVP_PKEY* key, Alg alg, std::string_view data, const unsigned char* sig, std::size_t sigLen) {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  if (ctx == nullptr) return false;
  EVP_PKEY_CTX* pctx = nullptr;  // owned by ctx
  bool ok = EVP_DigestVerifyInit(ctx, &pctx, digestOf(alg), nullptr, key) == 1;
  if (ok && alg == Alg::PS256) {
    // RFC 7518 §3.5: MGF1 with the same hash, salt as long as the hash.
    ok = EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) == 1 &&
         EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) == 1 &&
         EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, EVP_sha256()) == 1;
  }
  ok = ok && EVP_DigestVerify(ctx, sig, sigLen, bytes(data), data.size()) == 1;
  EVP_MD_CTX_free(ctx);
  return ok;
}

// JOSE ECDSA signatures are r||s, each as long as the curve order; EVP wants DER.
bool verifyEcdsa(EVP_PKEY* key, Alg alg, std::string_view data, std::string_view sig) {
  const std::size_t half = alg == Alg::ES256 ? 32 : 48;
  if (sig.size() != 2 * half) return false;
  ECDSA_SIG* ecdsa = ECDSA_SIG_new();
  if (ecdsa == nullptr) return false;
  BIGNUM* r = BN_bin2bn(bytes(sig), static_cast<int>(half), nullptr);
  BIGNUM* s = BN_bin2bn(bytes(sig) + half, static_cast<int>(half), nullptr);
  if (r == nullptr || s == nullptr || ECDSA_SIG_set0(ecdsa, r, s) != 1) {
    BN_free(r);
    BN_free(s);
    ECDSA_SIG_free(ecdsa);
    return false;
  }
  unsigned char* der = nullptr;
  const int derLen = i2d_ECDSA_SIG(ecdsa, &der);
  ECDSA_SIG_free(ecdsa);
  if (derLen <= 0) return false;
  const bool ok = verifyEvp(key, alg, data, der, static_cast<std::size_t>(derLen));
  OPENSSL_free(der);
  return ok;
}

bool verifyHmac(const std::string& secret, std::string_view data, std::string_view sig) {
  if (sig.size() != 32) return false;
  static EVP_MAC* const mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
  if (mac == nullptr) return false;
  EVP_MAC_CTX* ctx = EVP_MAC_CTX_new(mac);
  if (ctx == nullptr) return false;
  char digestName[] = "SHA256";
  const OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digestName, 0),
                               OSSL_PARAM_construct_end()};
  unsigned char out[EVP_MAX_MD_SIZE];
  std::size_t outLen = 0;
  bool ok = EVP_MAC_init(ctx, bytes(secret), secret.size(), params) == 1 &&
            EVP_MAC_update(ctx, bytes(data), data.size()) == 1 && EVP_MAC_final(ctx, out, &outLen, sizeof out) == 1;
  EVP_MAC_CTX_free(ctx);
  ok = ok && outLen == sig.size() && CRYPTO_memcmp(out, sig.data(), outLen) == 0;
  OPENSSL_cleanse(out, sizeof out);
  return ok;
}

bool verifySignature(const Jwk& key, Alg alg, std::string_view data, std::string_view sig) {
  switch (alg) {
    case Alg::HS256:
      return key.kty == JwkType::Oct && verifyHmac(key.secret, data, sig);
    case Alg::ES256:
    case Alg::ES384:
      return key.kty == JwkType::Ec && key.publicKey && verifyEcdsa(key.publicKey.get(), alg, data, sig);
    default:
      return key.kty == JwkType::Rsa && key.publicKey &&
             verifyEvp(key.publicKey.get(), alg, data, bytes(sig), sig.size());
  }
}

std::optional<double> numericDate(const nlohmann::json& v) {
  if (!v.is_number()) return std::nullopt;
  const double d = v.get<double>();
  if (!std::isfinite(d)) return std::nullopt;
  return d;
}

double seconds(std::chrono::system_clock::time_point t) {
  return std::chrono::duration<double>(t.time_since_epoch()).count();
}

}  // namespace

std::optional<std::string_view> bearerToken(std::string_view value) {
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
  while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
  if (value.size() < 8 || !iequals(value.substr(0, 6), "bearer") || value[6] != ' ') return std::nullopt;
  value.remove_prefix(6);
  while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  if (value.empty()) return std::nullopt;
  for (char c : value)
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) return std::nullopt;
  return value;
}

std::optional<std::string> claimAsString(const nlohmann::json& claims, std::string_view name) {
  if (!claims.is_object()) return std::nullopt;
  const auto it = claims.find(name);
  if (it == claims.end()) return std::nullopt;
  std::string text;
  if (it->is_string())
    text = it->get<std::string>();
  else if (it->is_number() || it->is_boolean())
    text = it->dump();
  else
    return std::nullopt;
  if (text.size() > 4096) return std::nullopt;
  for (char c : text)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return std::nullopt;
  return text;
}

std::vector<std::pair<std::string, std::string>> forwardedClaimHeaders(
    const nlohmann::json& claims, const std::vector<std::pair<std::string, std::string>>& forwardClaims) {
  std::vector<std::pair<std::string, std::string>> headers;
  for (const auto& [claim, header] : forwardClaims)
    if (auto value = claimAsString(claims, claim)) headers.emplace_back(header, std::move(*value));
  return headers;
}

// ---- verified-token cache ----------------------------------------------------------------

struct JwtVerifier::Cache {
  struct Entry {
    std::shared_ptr<const nlohmann::json> claims;
    std::chrono::system_clock::time_point expires;
  };
  std::size_t capacity = 0;
  std::mutex mutex;
  std::uint64_t generation = 0;  // of the key set the entries were verified with
  std::unordered_map<std::string, Entry> entries;
  std::deque<std::string> order;  // same keys as `entries`, oldest first
  std::atomic<std::size_t> hits{0};
  std::atomic<std::size_t> verifications{0};

  // Caller holds `mutex`.
  void syncGeneration(std::uint64_t current) {
    if (generation == current) return;
    entries.clear();
    order.clear();
    generation = current;
  }

  std::shared_ptr<const nlohmann::json> find(const std::string& key, std::uint64_t keysGeneration,
                                             std::chrono::system_clock::time_point now) {
    std::lock_guard lock(mutex);
    syncGeneration(keysGeneration);
    const auto it = entries.find(key);
    if (it == entries.end() || now >= it->second.expires) return nullptr;
    return it->second.claims;
  }

  void insert(std::string key, std::uint64_t keysGeneration, Entry entry) {
    if (capacity == 0) return;
    std::lock_guard lock(mutex);
    syncGeneration(keysGeneration);
    auto [it, inserted] = entries.insert_or_assign(key, std::move(entry));
    if (!inserted) return;
    order.push_back(std::move(key));
    while (order.size() > capacity) {
      entries.erase(order.front());
      order.pop_front();
    }
  }
};

// ---- JwtVerifier -------------------------------------------------------------------------

Expected<JwtVerifier> JwtVerifier::create(const JwtAuthSpec& spec, JwksCache* jwksCache, std::size_t cacheCapacity) {
  if (!spec.jwks.empty() && !spec.jwksUri.empty()) return makeError("jwt: set either jwks or jwksUri, not both");
  if (!spec.jwks.empty()) {
    auto set = parseJwks(spec.jwks);
    if (!set) return makeError("jwt: " + set.error().message);
    if (set->keys.empty()) {
      std::string reasons;
      for (const auto& r : set->skipped) reasons += (reasons.empty() ? "" : "; ") + r;
      return makeError("jwt: JWKS has no usable key" + (reasons.empty() ? std::string() : " (" + reasons + ")"));
    }
    return JwtVerifier(spec, std::make_shared<const KeySet>(std::move(set).value()), cacheCapacity);
  }
  if (!spec.jwksUri.empty()) {
    if (jwksCache == nullptr) return makeError("jwt: jwksUri needs a JWKS cache");
    if (!spec.jwksUri.starts_with("https://") && !spec.jwksUri.starts_with("http://"))
      return makeError("jwt: jwksUri must be an http:// or https:// URL");
    return JwtVerifier(spec, jwksCache->registerUrl(spec.jwksUri, spec.jwksRefreshInterval, spec.jwksTls),
                       cacheCapacity);
  }
  return makeError("jwt: neither jwks nor jwksUri is set");
}

JwtVerifier::JwtVerifier(const JwtAuthSpec& spec, KeySource keys, std::size_t cacheCapacity)
    : spec_(spec), keys_(std::move(keys)), cache_(std::make_unique<Cache>()) {
  cache_->capacity = cacheCapacity;
}
JwtVerifier::JwtVerifier(JwtVerifier&&) noexcept = default;
JwtVerifier& JwtVerifier::operator=(JwtVerifier&&) noexcept = default;
JwtVerifier::~JwtVerifier() = default;

std::size_t JwtVerifier::cacheHits() const { return cache_->hits.load(); }
std::size_t JwtVerifier::signatureVerifications() const { return cache_->verifications.load(); }

std::shared_ptr<const KeySet> JwtVerifier::currentKeys() const {
  if (const auto* set = std::get_if<std::shared_ptr<const KeySet>>(&keys_)) return *set;
  return std::get<JwksCache::Handle>(keys_).current();
}

bool JwtVerifier::refreshKeysThen(std::function<void()> done) const {
  const auto* handle = std::get_if<JwksCache::Handle>(&keys_);
  return handle && handle->refreshThen(std::move(done));
}

Expected<nlohmann::json> JwtVerifier::verify(std::string_view token, std::chrono::system_clock::time_point now,
                                             bool* keyMissing) const {
  if (token.empty()) return makeError("missing token");
  if (token.size() > kMaxTokenBytes) return makeError("token too large");
  const auto* handle = std::get_if<JwksCache::Handle>(&keys_);
  // The key may be published by now: a refresh is asked for (rate limited), and a caller
  // that can wait learns it through `keyMissing`.
  auto missing = [&](const char* why) {
    if (handle) handle->onUnknownKid();
    if (handle && keyMissing) *keyMissing = true;
    return makeError(why);
  };
  const auto keys = currentKeys();
  if (!keys || keys->keys.empty()) return missing("signing keys not available");

  const std::string cacheKey = sha256Bytes(token);
  if (auto claims = cache_->find(cacheKey, keys->generation, now)) {
    ++cache_->hits;
    return *claims;
  }

  // Compact serialization: header.payload.signature
  const auto dot1 = token.find('.');
  const auto dot2 = dot1 == std::string_view::npos ? dot1 : token.find('.', dot1 + 1);
  if (dot2 == std::string_view::npos || token.find('.', dot2 + 1) != std::string_view::npos)
    return makeError("malformed token: expected three parts");
  const std::string_view headerPart = token.substr(0, dot1);
  const std::string_view payloadPart = token.substr(dot1 + 1, dot2 - dot1 - 1);
  const std::string_view signaturePart = token.substr(dot2 + 1);
  const std::string_view signingInput = token.substr(0, dot2);

  const auto headerJson = base64UrlDecode(headerPart);
  if (!headerJson || headerJson->empty()) return makeError("malformed token header");
  const auto header = nlohmann::json::parse(*headerJson, nullptr, false);
  if (header.is_discarded() || !header.is_object()) return makeError("malformed token header");
  const auto algIt = header.find("alg");
  if (algIt == header.end() || !algIt->is_string()) return makeError("token header has no alg");
  const auto& algName = algIt->get_ref<const std::string&>();
  if (iequals(algName, "none")) return makeError("alg none is not allowed");
  const auto alg = parseAlg(algName);
  if (!alg) return makeError("unsupported alg");
  std::optional<std::string> kid;
  if (const auto it = header.find("kid"); it != header.end()) {
    if (!it->is_string()) return makeError("malformed token header");
    kid = it->get<std::string>();
  }
  if (const auto it = header.find("typ"); it != header.end() && !it->is_string())
    return makeError("malformed token header");
  if (header.contains("crit")) return makeError("unsupported crit header");

  const auto payloadJson = base64UrlDecode(payloadPart);
  if (!payloadJson || payloadJson->empty()) return makeError("malformed token payload");
  if (signaturePart.empty()) return makeError("missing signature");
  const auto signature = base64UrlDecode(signaturePart);
  if (!signature) return makeError("malformed token signature");

  // Candidate keys: those fitting the alg (kty, curve, the key's own alg), with the kid if any.
  std::vector<const Jwk*> candidates;
  bool kidKnown = false;
  for (const auto& key : keys->keys) {
    if (kid && key.kid != *kid) continue;
    kidKnown = true;
    if (keyFitsAlg(key, algName) && candidates.size() < kMaxKeysTried) candidates.push_back(&key);
  }
  if (kid && !kidKnown) return missing("unknown key id");
  if (candidates.empty()) return makeError(kid ? "key does not match token alg" : "no key for token alg");

  bool verified = false;
  for (const Jwk* key : candidates) {
    ++cache_->verifications;
    if (verifySignature(*key, *alg, signingInput, *signature)) {
      verified = true;
      break;
    }
  }
  if (!verified) return makeError("invalid signature");

  auto claims = nlohmann::json::parse(*payloadJson, nullptr, false);
  if (claims.is_discarded() || !claims.is_object()) return makeError("malformed token payload");

  const double nowSec = seconds(now);
  const double leeway = std::chrono::duration<double>(spec_.leeway).count();
  const auto expIt = claims.find("exp");
  if (expIt == claims.end()) return makeError("token has no exp claim");
  const auto exp = numericDate(*expIt);
  if (!exp) return makeError("malformed exp claim");
  if (nowSec >= *exp + leeway) return makeError("token expired");
  if (const auto it = claims.find("nbf"); it != claims.end()) {
    const auto nbf = numericDate(*it);
    if (!nbf) return makeError("malformed nbf claim");
    if (nowSec + leeway < *nbf) return makeError("token not yet valid");
  }
  if (!spec_.issuer.empty()) {
    const auto it = claims.find("iss");
    if (it == claims.end() || !it->is_string() || it->get_ref<const std::string&>() != spec_.issuer)
      return makeError("issuer not accepted");
  }
  if (!spec_.audiences.empty()) {
    auto accepted = [&](const nlohmann::json& v) {
      if (!v.is_string()) return false;
      for (const auto& a : spec_.audiences)
        if (v.get_ref<const std::string&>() == a) return true;
      return false;
    };
    const auto it = claims.find("aud");
    bool ok = false;
    if (it != claims.end()) {
      if (it->is_array())
        for (const auto& v : *it) ok = ok || accepted(v);
      else
        ok = accepted(*it);
    }
    if (!ok) return makeError("audience not accepted");
  }

  // Cached until the token expires (exp itself, not exp + leeway) or for at most a minute.
  auto expires = now + kMaxCacheTime;
  if (*exp < nowSec + static_cast<double>(kMaxCacheTime.count()))
    expires = std::chrono::system_clock::time_point(
        std::chrono::duration_cast<std::chrono::system_clock::duration>(std::chrono::duration<double>(*exp)));
  if (expires > now)
    cache_->insert(cacheKey, keys->generation, Cache::Entry{std::make_shared<const nlohmann::json>(claims), expires});
  return claims;
}

}  // namespace portico::proxy::policy
