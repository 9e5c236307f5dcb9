// HTTP Basic authentication (RFC 7617) against an htpasswd file.
//
// Supported hashes: bcrypt ($2a$, $2b$, $2y$; cost 4..14) and SHA-crypt ($5$ SHA-256,
// $6$ SHA-512; at most 1,000,000 rounds), verified with libcrypt's crypt_rn and compared
// with CRYPTO_memcmp. Other schemes (MD5 $apr1$/$1$, {SHA}, plain text, yescrypt) are
// refused when the authenticator is built, with the offending line number.
//
// Timing: an unknown user still costs one hash verification (against the first entry's hash,
// result discarded), so response times do not reveal which user names exist as long as the
// entries share one scheme and cost.
//
// Cost: bcrypt takes ~10 ms or more per check, so successful verifications are remembered
// in a bounded cache keyed by SHA-256(user, password, stored hash); a repeated request with
// the same credentials costs a hash and a map lookup. Only successes are cached, and a
// changed htpasswd builds a new authenticator (so a new cache). The cache is internally
// synchronized: one authenticator is shared by all worker threads and `authenticate` is
// const and thread-safe.
//
// bcrypt only looks at the first 72 bytes of a password (a property of the algorithm).
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "proxy/common/expected.h"
#include "proxy/config/route_spec.h"

namespace portico::proxy::policy {

// The credentials of a `Basic` Authorization header value, or nothing when the value is not
// a well-formed Basic credential: scheme "Basic" (any case), one or more spaces, strict
// padded base64 (standard alphabet), decoding to "user:password" with a non-empty user, no
// control characters in the user, no NUL in the password, header value at most
// kMaxAuthorizationLength bytes.
struct BasicCredentials {
  std::string user;
  std::string password;
};
inline constexpr std::size_t kMaxAuthorizationLength = 4096;
[[nodiscard]] std::optional<BasicCredentials> parseBasicAuthorization(std::string_view authorizationHeader);

class BasicAuthenticator {
 public:
  static constexpr std::size_t kDefaultCacheCapacity = 4096;

  // Parses spec.htpasswd: one "user:hash" per line; blank lines and lines starting with '#'
  // are skipped; CR before LF is accepted. Errors name the line: malformed line, empty or
  // duplicate user, unsupported hash scheme, malformed hash, cost out of range, no users.
  static Expected<BasicAuthenticator> create(const BasicAuthSpec& spec,
                                             std::size_t cacheCapacity = kDefaultCacheCapacity);

  BasicAuthenticator(BasicAuthenticator&&) noexcept;
  BasicAuthenticator& operator=(BasicAuthenticator&&) noexcept;
  ~BasicAuthenticator();

  // The user name for an Authorization header value, or nothing (missing, malformed, unknown
  // user or wrong password: the caller answers 401 with wwwAuthenticate()). Any thread; costs
  // one hash verification (~10 ms for bcrypt) unless the credentials are in the cache.
  [[nodiscard]] std::optional<std::string> authenticate(std::string_view authorizationHeader) const;
  // The same for already parsed credentials.
  [[nodiscard]] std::optional<std::string> authenticate(const BasicCredentials& credentials) const;

  const std::string& realm() const { return realm_; }
  // The WWW-Authenticate header value: Basic realm="...", charset="UTF-8" (realm escaped).
  const std::string& wwwAuthenticate() const { return challenge_; }
  const std::string& userHeader() const { return userHeader_; }
  std::size_t userCount() const;

  // Observability and tests: verifications served from the cache / run with libcrypt.
  std::size_t cacheHits() const;
  std::size_t hashVerifications() const;

 private:
  struct Impl;
  explicit BasicAuthenticator(std::unique_ptr<Impl> impl, const BasicAuthSpec& spec);
  std::unique_ptr<Impl> impl_;
  std::string realm_;
  std::string challenge_;
  std::string userHeader_;
};

}  // namespace portico::proxy::policy
