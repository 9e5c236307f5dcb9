// JSON Web Key Sets (RFC 7517/7518) for JWT verification, and the process-wide cache of
// key sets fetched from issuers' jwks_uri.
//
// parseJwks validates every field of every key and builds OpenSSL 3 EVP_PKEYs
// (EVP_PKEY_fromdata) for RSA and EC keys; HMAC ("oct") secrets are kept as bytes. A single
// unsupported or malformed key is skipped and reported in KeySet::skipped; only a document
// that is not a JWKS at all is an error. Accepted keys:
//   RSA  n, e         modulus 2048..16384 bits
//   EC   crv, x, y    P-256 or P-384, point checked to be on the curve
//   oct  k            at least 32 bytes (HS256 needs a key as long as its hash)
// with optional kid, alg (one of the algorithms JwtVerifier supports, consistent with kty
// and crv), use (only "sig"), key_ops (must include "verify").
//
// JwksCache: one background thread refreshes every registered URL at its interval; workers
// read the current set (a brief mutex to copy a shared_ptr) and never fetch. A request that
// meets an unknown kid (or a URL not fetched yet) asks for an early refresh with
// refreshThen() and waits, suspended, for that fetch to end, then is verified again; the
// worker serves everything else meanwhile. Early refreshes happen at most once per
// minRefreshInterval per URL: within it an unknown kid is refused at once, without waiting.
// A failed fetch (or a document with no usable key) keeps the last good set.
#pragma once

#include <openssl/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "proxy/common/expected.h"
#include "proxy/config/route_spec.h"

namespace portico::proxy::policy {

// Strict base64url (RFC 4648 §5) without padding: only [A-Za-z0-9_-], no '=', no blanks,
// canonical unused bits. Nothing on any violation. Empty input decodes to "".
std::optional<std::string> base64UrlDecode(std::string_view in);

enum class JwkType { Rsa, Ec, Oct };

struct Jwk {
  JwkType kty = JwkType::Rsa;
  std::string kid;  // may be empty
  std::string alg;  // may be empty: any algorithm of the key type
  std::string use;  // empty or "sig"
  std::string crv;  // EC: "P-256" or "P-384"
  std::shared_ptr<EVP_PKEY> publicKey;  // Rsa, Ec
  std::string secret;                   // Oct
};

struct KeySet {
  std::vector<Jwk> keys;
  std::vector<std::string> skipped;  // "keys[2] (kid \"a\"): unsupported kty \"OKP\""
  std::uint64_t generation = 0;      // unique per parsed set, process-wide; never 0 after parse
};

// Whether `key` may verify a token signed with `alg`: kty (and curve) fit the algorithm, and
// the key's own alg, when it states one, is `alg`. An RSA or EC key is never an HMAC secret.
bool keyFitsAlg(const Jwk& key, std::string_view alg);

inline constexpr std::size_t kMaxJwksBytes = 1 << 20;
inline constexpr std::size_t kMaxJwksKeys = 64;  // further keys are skipped

// Errors only when the document is not a JSON object with a "keys" array (or is too big).
Expected<KeySet> parseJwks(std::string_view json);

// Fetches a URL's body, over TLS with `tls` when given (else the system trust store): the
// real one is proxy/upstream/http_fetch's httpFetch.
using JwksFetcher = std::function<Expected<std::string>(const std::string& url, const UpstreamTlsSpec* tls,
                                                        std::chrono::milliseconds timeout)>;

struct JwksCacheOptions {
  std::chrono::milliseconds minRefreshInterval{10000};  // between unknown-kid refreshes of a URL
  std::chrono::milliseconds fetchTimeout{5000};
  std::chrono::milliseconds retryInterval{30000};  // after a failed fetch (capped by the URL's interval)
};

class JwksCache {
  struct Shared;
  struct Entry;

 public:
  // A registration. Copyable, cheap; keeps the URL's key set alive while any copy exists.
  // Usable from any thread, also after the JwksCache is gone (then nothing refreshes).
  class Handle {
   public:
    Handle() = default;
    // The last good set; nullptr until the first successful fetch. Any thread (a brief mutex).
    [[nodiscard]] std::shared_ptr<const KeySet> current() const;
    // Asks for an early refresh (rate limited); never blocks on the fetch. Any thread.
    void onUnknownKid() const;
    // Asks for an early refresh like onUnknownKid and calls `done` once, on the refresh
    // thread, when that fetch (or the one already due or under way) has ended, whatever its
    // outcome. False, and `done` is dropped, when no fetch is coming: the URL was fetched
    // less than minRefreshInterval ago, or the cache is stopping. Any thread; never blocks.
    bool refreshThen(std::function<void()> done) const;
    const std::string& url() const;
    explicit operator bool() const { return entry_ != nullptr; }

   private:
    friend class JwksCache;
    std::shared_ptr<Shared> shared_;
    std::shared_ptr<Entry> entry_;
  };

  // Starts the refresh thread.
  explicit JwksCache(JwksFetcher fetcher, JwksCacheOptions options = {});
  // stop().
  ~JwksCache();
  // Stops and joins the refresh thread (waits for a fetch in progress, bounded by
  // fetchTimeout). Callbacks still waiting (refreshThen) are dropped uncalled, so the
  // owner of what they refer to (a worker's event loop) may go once this returns. Idempotent.
  void stop();
  JwksCache(const JwksCache&) = delete;
  JwksCache& operator=(const JwksCache&) = delete;

  // Registers `url` (or joins an existing registration; the shortest interval wins; it is
  // never shorter than minRefreshInterval) and
  // schedules a first fetch at once. A URL no Handle refers to any more is dropped by the
  // refresh thread on its next pass, so routing tables that are replaced release their URLs.
  // Any thread.
  // Registrations of one URL with different `tls` settings are separate entries (one key
  // server must not vouch for keys fetched under another's trust).
  [[nodiscard]] Handle registerUrl(const std::string& url, std::chrono::milliseconds refreshInterval,
                                   const std::optional<UpstreamTlsSpec>& tls = std::nullopt);

  // By URL (registered without tls settings): nullptr for an unknown URL or before the
  // first good fetch.
  std::shared_ptr<const KeySet> current(const std::string& url) const;
  void onUnknownKid(const std::string& url);

  std::size_t registeredUrls() const;  // for tests and metrics

 private:
  static void run(const std::shared_ptr<Shared>& shared);
  std::shared_ptr<Shared> shared_;
  std::thread thread_;
};

}  // namespace portico::proxy::policy
