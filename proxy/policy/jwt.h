// JWT bearer-token verification (RFC 7519, compact JWS RFC 7515, algorithms RFC 7518).
//
// Accepted: exactly three base64url parts (strict alphabet, no padding), at most
// kMaxTokenBytes; a JSON-object header with "alg" (RS256, RS384, RS512, PS256, ES256,
// ES384, HS256; "none" and all others rejected), optional string "kid" and "typ", no "crit".
// The key must fit the algorithm: RSA keys only for RS*/PS256, EC keys only for ES* on the
// matching curve, oct secrets only for HS256, and a key's own "alg" must equal the token's.
// With a kid only keys carrying that kid are tried; without one, every fitting key (at most
// kMaxKeysTried). Signatures go through OpenSSL EVP (ES*: JOSE r||s converted to DER; HS256:
// EVP_MAC HMAC compared with CRYPTO_memcmp). Then claims: "exp" required and "nbf" optional,
// both numeric and with spec.leeway; "iss" equal to spec.issuer when set; "aud" (string or
// array of strings) containing one of spec.audiences when set.
//
// Keys come from a static KeySet (spec.jwks) or a JwksCache registration (spec.jwksUri).
// An unknown kid asks the cache for an early refresh (rate limited) and fails verify(); a
// caller that can wait (the authentication filter) learns so, waits for the refresh with
// refreshKeysThen() and verifies again.
//
// Verified tokens are cached (bounded; key = SHA-256 of the token) until min(exp, now+60 s),
// and the cache is emptied when the key set changes, so an RS256 check is not repeated for
// every request carrying the same token. `verify` is const and thread-safe: one verifier is
// shared by all worker threads.
//
// Error messages are fixed phrases meant for a 401 body: they never echo token content,
// keys or claim values.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "proxy/common/expected.h"
#include "proxy/config/route_spec.h"
#include "proxy/policy/jwks.h"

namespace portico::proxy::policy {

inline constexpr std::size_t kMaxTokenBytes = 16 * 1024;
inline constexpr std::size_t kMaxKeysTried = 8;

// The token of an "Authorization: Bearer <token>" value (scheme case-insensitive, one or
// more spaces), or nothing.
[[nodiscard]] std::optional<std::string_view> bearerToken(std::string_view authorizationHeader);

// A top-level claim as header text: strings as they are, numbers and booleans as JSON text;
// nothing for a missing claim, null, objects and arrays, and for values holding control
// characters (CR, LF, NUL... would allow header injection) or longer than 4096 bytes.
[[nodiscard]] std::optional<std::string> claimAsString(const nlohmann::json& claims, std::string_view name);

// spec.forwardClaims resolved against verified claims: (header, value) for each claim that
// claimAsString can render; others are left out.
std::vector<std::pair<std::string, std::string>> forwardedClaimHeaders(
    const nlohmann::json& claims, const std::vector<std::pair<std::string, std::string>>& forwardClaims);

class JwtVerifier {
 public:
  using KeySource = std::variant<std::shared_ptr<const KeySet>, JwksCache::Handle>;
  static constexpr std::size_t kDefaultCacheCapacity = 10000;
  static constexpr std::chrono::seconds kMaxCacheTime{60};

  // Picks the key source from the spec: spec.jwks parsed now (error when it does not parse
  // or has no usable key), or spec.jwksUri registered with `jwksCache` at
  // spec.jwksRefreshInterval (error when `jwksCache` is null). Exactly one of them must be set.
  static Expected<JwtVerifier> create(const JwtAuthSpec& spec, JwksCache* jwksCache,
                                      std::size_t cacheCapacity = kDefaultCacheCapacity);

  JwtVerifier(const JwtAuthSpec& spec, KeySource keys, std::size_t cacheCapacity = kDefaultCacheCapacity);
  JwtVerifier(JwtVerifier&&) noexcept;
  JwtVerifier& operator=(JwtVerifier&&) noexcept;
  ~JwtVerifier();

  // The verified claims (a JSON object), or an Error whose message suits a 401 body. Any thread;
  // never blocks on a fetch. `now` is the wall clock (injected for tests). `keyMissing` is
  // set when it failed for want of a key that a JWKS refresh might bring (an unknown kid,
  // or no key set fetched yet).
  Expected<nlohmann::json> verify(std::string_view token, std::chrono::system_clock::time_point now,
                                  bool* keyMissing = nullptr) const;
  // JwksCache::Handle::refreshThen for the verifier's JWKS URL; false for a static key set.
  bool refreshKeysThen(std::function<void()> done) const;

  const JwtAuthSpec& spec() const { return spec_; }
  std::size_t cacheHits() const;              // tests and metrics
  std::size_t signatureVerifications() const;  // EVP verifications run (success or not)

 private:
  struct Cache;
  std::shared_ptr<const KeySet> currentKeys() const;
  JwtAuthSpec spec_;
  KeySource keys_;
  std::unique_ptr<Cache> cache_;
};

}  // namespace portico::proxy::policy
