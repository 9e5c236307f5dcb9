#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "proxy/policy/jwks.h"
#include "test/proxy/policy/jwt_test_support.h"

using namespace portico;
using namespace portico::proxy::policy;
using portico::proxy::UpstreamTlsSpec;
using namespace jwt_test;
using namespace std::chrono_literals;

namespace {

std::string jwks(std::initializer_list<nlohmann::json> keys) {
  return nlohmann::json{{"keys", nlohmann::json::array_t(keys)}}.dump();
}

KeySet parsed(const std::string& doc) {
  auto set = parseJwks(doc);
  REQUIRE_MESSAGE(set.has_value(), (set ? std::string() : set.error().message));
  return std::move(set).value();
}

bool skippedWith(const KeySet& set, const std::string& needle) {
  for (const auto& s : set.skipped)
    if (s.find(needle) != std::string::npos) return true;
  return false;
}

// A fake issuer: serves `body` (or fails) and counts calls.
struct FakeIssuer {
  std::mutex mutex;
  std::condition_variable released;
  std::string body;
  bool fail = false;
  bool held = false;  // fetches wait (after counting) until release()
  std::atomic<int> calls{0};

  void set(std::string b, bool f = false) {
    std::lock_guard lock(mutex);
    body = std::move(b);
    fail = f;
  }
  void hold() {
    std::lock_guard lock(mutex);
    held = true;
  }
  void release() {
    {
      std::lock_guard lock(mutex);
      held = false;
    }
    released.notify_all();
  }
  JwksFetcher fetcher() {
    return [this](const std::string& url, const UpstreamTlsSpec*, std::chrono::milliseconds) -> Expected<std::string> {
      ++calls;
      std::unique_lock lock(mutex);
      released.wait(lock, [this] { return !held; });
      if (fail) return makeError("GET " + url + ": connection refused");
      return body;
    };
  }
};

template <class Pred>
bool eventually(Pred pred, std::chrono::milliseconds limit = 3000ms) {
  const auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    if (pred()) return true;
    std::this_thread::sleep_for(5ms);
  }
  return pred();
}

bool hasKid(const std::shared_ptr<const KeySet>& set, const std::string& kid) {
  if (!set) return false;
  for (const auto& k : set->keys)
    if (k.kid == kid) return true;
  return false;
}

}  // namespace

TEST_SUITE("jwks") {
  TEST_CASE("base64url decoding is strict") {
    CHECK(base64UrlDecode("") == std::optional<std::string>(""));
    CHECK(base64UrlDecode("QQ") == std::optional<std::string>("A"));
    CHECK(base64UrlDecode("QUI") == std::optional<std::string>("AB"));
    CHECK(base64UrlDecode("QUJD") == std::optional<std::string>("ABC"));
    CHECK(base64UrlDecode("-_8") == std::optional<std::string>("\xfb\xff"));
    CHECK_FALSE(base64UrlDecode("QQ=="));  // no padding
    CHECK_FALSE(base64UrlDecode("Q"));     // impossible length
    CHECK_FALSE(base64UrlDecode("QR"));    // non-zero unused bits
    CHECK_FALSE(base64UrlDecode("+/8"));   // standard alphabet
    CHECK_FALSE(base64UrlDecode("QU JD"));
    CHECK_FALSE(base64UrlDecode("QUJD\n"));
  }

  TEST_CASE("RSA, EC P-256, EC P-384 and oct keys are parsed with kid, alg and use") {
    auto rsa = rsaKey();
    auto p256 = ecKey("P-256");
    auto p384 = ecKey("P-384");
    auto rsaJ = rsaJwk(rsa, "r1", "RS256");
    rsaJ["use"] = "sig";
    auto set = parsed(jwks({rsaJ, ecJwk(p256, "P-256", "e1"), ecJwk(p384, "P-384", "e2", "ES384"),
                            octJwk(randomBytes(32), "h1", "HS256")}));
    REQUIRE(set.keys.size() == 4);
    CHECK(set.skipped.empty());
    CHECK(set.generation != 0);
    CHECK(set.keys[0].kty == JwkType::Rsa);
    CHECK(set.keys[0].kid == "r1");
    CHECK(set.keys[0].alg == "RS256");
    CHECK(set.keys[0].use == "sig");
    CHECK(EVP_PKEY_get_bits(set.keys[0].publicKey.get()) == 2048);
    CHECK(set.keys[1].kty == JwkType::Ec);
    CHECK(set.keys[1].crv == "P-256");
    CHECK(set.keys[1].publicKey != nullptr);
    CHECK(set.keys[2].crv == "P-384");
    CHECK(set.keys[3].kty == JwkType::Oct);
    CHECK(set.keys[3].secret.size() == 32);
    CHECK(set.keys[3].publicKey == nullptr);
    // Each parse is a new generation (the JWT cache relies on it).
    CHECK(parsed(jwks({rsaJ})).generation != parsed(jwks({rsaJ})).generation);
  }

  TEST_CASE("bad single keys are skipped and reported, good ones kept") {
    auto good = rsaJwk(rsaKey(), "good");
    auto p256 = ecKey("P-256");
    auto offCurve = ecJwk(p256, "P-256", "off");
    std::string y = *base64UrlDecode(offCurve["y"].get<std::string>());
    y[31] = static_cast<char>(y[31] ^ 1);
    offCurve["y"] = b64url(y);
    auto shortX = ecJwk(p256, "P-256", "short");
    shortX["x"] = b64url(std::string(31, 'x'));
    auto wrongCrv = ecJwk(p256, "P-256", "crv");
    wrongCrv["crv"] = "P-521";
    auto ecAsRs = ecJwk(p256, "P-256", "ecrs", "RS256");
    auto p256As384 = ecJwk(p256, "P-256", "p256es384", "ES384");
    auto enc = rsaJwk(rsaKey(), "enc");
    enc["use"] = "enc";
    auto ops = rsaJwk(rsaKey(), "ops");
    ops["key_ops"] = {"encrypt"};
    auto badB64 = rsaJwk(rsaKey(), "b64");
    badB64["n"] = badB64["n"].get<std::string>() + "==";
    auto kidNum = rsaJwk(rsaKey(), "");
    kidNum["kid"] = 7;
    auto noN = rsaJwk(rsaKey(), "non");
    noN.erase("n");
    auto unknownAlg = rsaJwk(rsaKey(), "ps512", "PS512");

    auto set = parsed(jwks({good, {{"kty", "OKP"}, {"crv", "Ed25519"}, {"x", "AAAA"}, {"kid", "okp"}},
                            rsaJwk(rsaKey(1024), "weak"), offCurve, shortX, wrongCrv, ecAsRs, p256As384,
                            octJwk(randomBytes(16), "shorthmac"), enc, ops, badB64, kidNum, noN, unknownAlg,
                            "not an object", {{"n", "AQAB"}}}));
    REQUIRE(set.keys.size() == 1);
    CHECK(set.keys[0].kid == "good");
    CHECK(set.skipped.size() == 16);
    CHECK(skippedWith(set, "keys[1] (kid \"okp\"): unsupported kty \"OKP\""));
    CHECK(skippedWith(set, "keys[2] (kid \"weak\"): RSA modulus of 1024 bits"));
    CHECK(skippedWith(set, "keys[3] (kid \"off\"): EC point is not on the curve P-256"));
    CHECK(skippedWith(set, "keys[4] (kid \"short\"): EC coordinates must be 32 bytes"));
    CHECK(skippedWith(set, "keys[5] (kid \"crv\"): unsupported EC curve \"P-521\""));
    CHECK(skippedWith(set, "keys[6] (kid \"ecrs\"): alg \"RS256\" is unsupported or does not fit the key"));
    CHECK(skippedWith(set, "keys[7] (kid \"p256es384\"): alg \"ES384\""));
    CHECK(skippedWith(set, "keys[8] (kid \"shorthmac\"): HMAC key shorter than 32 bytes"));
    CHECK(skippedWith(set, "keys[9] (kid \"enc\"): use \"enc\" is not \"sig\""));
    CHECK(skippedWith(set, "keys[10] (kid \"ops\"): key_ops does not allow \"verify\""));
    CHECK(skippedWith(set, "keys[11] (kid \"b64\"): \"n\" is not non-empty base64url"));
    CHECK(skippedWith(set, "keys[12]: \"kid\" is not a string"));
    CHECK(skippedWith(set, "keys[13] (kid \"non\"): missing or non-string \"n\""));
    CHECK(skippedWith(set, "keys[14] (kid \"ps512\"): alg \"PS512\""));
    CHECK(skippedWith(set, "keys[15]: not an object"));
    CHECK(skippedWith(set, "keys[16]: missing or non-string \"kty\""));
  }

  TEST_CASE("documents that are not a key set are errors") {
    auto err = [](const std::string& doc) {
      auto set = parseJwks(doc);
      REQUIRE_FALSE(set.has_value());
      return set.error().message;
    };
    CHECK(err("{") == "JWKS: not valid JSON");
    CHECK(err("") == "JWKS: not valid JSON");
    CHECK(err("[]") == "JWKS: not a JSON object");
    CHECK(err("{}") == "JWKS: missing \"keys\" array");
    CHECK(err("{\"keys\":{}}") == "JWKS: missing \"keys\" array");
    CHECK(err(std::string(kMaxJwksBytes + 1, ' ')).find("larger than") != std::string::npos);
    auto empty = parsed("{\"keys\":[]}");
    CHECK(empty.keys.empty());
  }

  TEST_CASE("more than kMaxJwksKeys keys: the rest are skipped") {
    const std::string secret = randomBytes(32);
    nlohmann::json keys = nlohmann::json::array();
    for (std::size_t i = 0; i < kMaxJwksKeys + 3; ++i) keys.push_back(octJwk(secret, "k" + std::to_string(i)));
    auto set = parsed(nlohmann::json{{"keys", keys}}.dump());
    CHECK(set.keys.size() == kMaxJwksKeys);
    CHECK(set.skipped.size() == 3);
  }

  TEST_CASE("keyFitsAlg: key type, curve and the key's own alg must fit") {
    auto set = parsed(jwks({rsaJwk(rsaKey(), "r"), ecJwk(ecKey("P-256"), "P-256", "e"),
                            ecJwk(ecKey("P-384"), "P-384", "e3"), octJwk(randomBytes(32), "h"),
                            rsaJwk(rsaKey(), "rs256only", "RS256")}));
    REQUIRE(set.keys.size() == 5);
    const auto& rsa = set.keys[0];
    CHECK(keyFitsAlg(rsa, "RS256"));
    CHECK(keyFitsAlg(rsa, "RS384"));
    CHECK(keyFitsAlg(rsa, "RS512"));
    CHECK(keyFitsAlg(rsa, "PS256"));
    CHECK_FALSE(keyFitsAlg(rsa, "HS256"));
    CHECK_FALSE(keyFitsAlg(rsa, "ES256"));
    CHECK_FALSE(keyFitsAlg(rsa, "none"));
    CHECK(keyFitsAlg(set.keys[1], "ES256"));
    CHECK_FALSE(keyFitsAlg(set.keys[1], "ES384"));
    CHECK_FALSE(keyFitsAlg(set.keys[1], "HS256"));
    CHECK(keyFitsAlg(set.keys[2], "ES384"));
    CHECK_FALSE(keyFitsAlg(set.keys[2], "ES256"));
    CHECK(keyFitsAlg(set.keys[3], "HS256"));
    CHECK_FALSE(keyFitsAlg(set.keys[3], "RS256"));
    CHECK(keyFitsAlg(set.keys[4], "RS256"));
    CHECK_FALSE(keyFitsAlg(set.keys[4], "PS256"));
  }
}

TEST_SUITE("jwks_cache") {
  const std::string kUrl = "https://issuer.example/jwks";

  TEST_CASE("registering fetches at once; both handles share one entry") {
    FakeIssuer issuer;
    const std::string secret = randomBytes(32);
    issuer.set(jwks({octJwk(secret, "a")}));
    JwksCache cache(issuer.fetcher(), {.minRefreshInterval = 100ms, .fetchTimeout = 1000ms, .retryInterval = 100ms});
    auto h1 = cache.registerUrl(kUrl, 3600s);
    auto h2 = cache.registerUrl(kUrl, 3600s);
    CHECK(cache.registeredUrls() == 1);
    REQUIRE(eventually([&] { return h1.current() != nullptr; }));
    CHECK(hasKid(h2.current(), "a"));
    CHECK(hasKid(cache.current(kUrl), "a"));
    CHECK(cache.current("https://other/") == nullptr);
    CHECK(h1.url() == kUrl);
    std::this_thread::sleep_for(50ms);
    CHECK(issuer.calls == 1);
  }

  TEST_CASE("one URL with other TLS settings is another entry, fetched with its own settings") {
    std::mutex mutex;
    std::vector<std::string> seen;  // the CA each fetch was made with
    const std::string body = jwks({octJwk(randomBytes(32), "a")});
    JwksCache cache(
        [&](const std::string&, const UpstreamTlsSpec* tls, std::chrono::milliseconds) -> Expected<std::string> {
          std::lock_guard lock(mutex);
          seen.push_back(tls ? tls->caPem : "system");
          return body;
        },
        {.minRefreshInterval = 100ms, .fetchTimeout = 1000ms, .retryInterval = 100ms});
    const UpstreamTlsSpec ca1{.serverName = "issuer.example", .caPem = "CA1"};
    auto plain = cache.registerUrl(kUrl, 3600s);
    auto withCa = cache.registerUrl(kUrl, 3600s, ca1);
    auto sameCa = cache.registerUrl(kUrl, 3600s, ca1);
    auto otherCa = cache.registerUrl(kUrl, 3600s, UpstreamTlsSpec{.serverName = "issuer.example", .caPem = "CA2"});
    CHECK(cache.registeredUrls() == 3);
    REQUIRE(eventually([&] { return withCa.current() && otherCa.current() && plain.current(); }));
    std::lock_guard lock(mutex);
    std::sort(seen.begin(), seen.end());
    CHECK(seen == std::vector<std::string>{"CA1", "CA2", "system"});
  }

  TEST_CASE("unknown kid refreshes at most once per minRefreshInterval") {
    FakeIssuer issuer;
    const std::string secret = randomBytes(32);
    issuer.set(jwks({octJwk(secret, "a")}));
    JwksCache cache(issuer.fetcher(), {.minRefreshInterval = 400ms, .fetchTimeout = 1000ms, .retryInterval = 400ms});
    auto h = cache.registerUrl(kUrl, 3600s);
    REQUIRE(eventually([&] { return h.current() != nullptr; }));
    REQUIRE(issuer.calls == 1);
    // Right after the first fetch: inside the minimum interval, a flood does nothing.
    for (int i = 0; i < 1000; ++i) h.onUnknownKid();
    std::this_thread::sleep_for(100ms);
    CHECK(issuer.calls == 1);
    // The issuer rotates; after the interval one refresh happens for the whole flood.
    issuer.set(jwks({octJwk(secret, "a"), octJwk(secret, "b")}));
    std::this_thread::sleep_for(400ms);
    for (int i = 0; i < 1000; ++i) cache.onUnknownKid(kUrl);
    REQUIRE(eventually([&] { return hasKid(h.current(), "b"); }));
    CHECK(issuer.calls == 2);
    for (int i = 0; i < 1000; ++i) h.onUnknownKid();
    std::this_thread::sleep_for(150ms);
    CHECK(issuer.calls == 2);
  }

  TEST_CASE("the interval refreshes on its own; an unchanged document keeps its key set") {
    FakeIssuer issuer;
    const std::string secret = randomBytes(32);
    issuer.set(jwks({octJwk(secret, "a")}));
    JwksCache cache(issuer.fetcher(), {.minRefreshInterval = 50ms, .fetchTimeout = 1000ms, .retryInterval = 50ms});
    auto h = cache.registerUrl(kUrl, 100ms);
    REQUIRE(eventually([&] { return h.current() != nullptr; }));
    const auto first = h.current();
    REQUIRE(eventually([&] { return issuer.calls >= 3; }));
    CHECK(h.current() == first);  // same generation: verified-token caches stay valid
    issuer.set(jwks({octJwk(secret, "rotated")}));
    REQUIRE(eventually([&] { return hasKid(h.current(), "rotated"); }));
    CHECK(h.current()->generation != first->generation);
    CHECK_FALSE(hasKid(h.current(), "a"));
  }

  TEST_CASE("a failed fetch, invalid JSON or a set without usable keys keeps the last good set") {
    FakeIssuer issuer;
    const std::string secret = randomBytes(32);
    issuer.set(jwks({octJwk(secret, "a")}));
    JwksCache cache(issuer.fetcher(), {.minRefreshInterval = 50ms, .fetchTimeout = 1000ms, .retryInterval = 50ms});
    auto h = cache.registerUrl(kUrl, 100ms);
    REQUIRE(eventually([&] { return h.current() != nullptr; }));
    const auto good = h.current();

    issuer.set("", true);
    int calls = issuer.calls;
    REQUIRE(eventually([&] { return issuer.calls >= calls + 2; }));
    CHECK(h.current() == good);

    issuer.set("{not json");
    calls = issuer.calls;
    REQUIRE(eventually([&] { return issuer.calls >= calls + 2; }));
    CHECK(h.current() == good);

    issuer.set(jwks({octJwk("short", "x")}));
    calls = issuer.calls;
    REQUIRE(eventually([&] { return issuer.calls >= calls + 2; }));
    CHECK(h.current() == good);
  }

  TEST_CASE("a failing first fetch is retried at the retry interval") {
    FakeIssuer issuer;
    issuer.set("", true);
    JwksCache cache(issuer.fetcher(), {.minRefreshInterval = 50ms, .fetchTimeout = 1000ms, .retryInterval = 50ms});
    auto h = cache.registerUrl(kUrl, 3600s);
    REQUIRE(eventually([&] { return issuer.calls >= 2; }));
    CHECK(h.current() == nullptr);
    issuer.set(jwks({octJwk(randomBytes(32), "late")}));
    REQUIRE(eventually([&] { return hasKid(h.current(), "late"); }));
  }

  TEST_CASE("a URL nobody refers to any more is dropped") {
    FakeIssuer issuer;
    issuer.set(jwks({octJwk(randomBytes(32), "a")}));
    JwksCache cache(issuer.fetcher(), {.minRefreshInterval = 50ms, .fetchTimeout = 1000ms, .retryInterval = 50ms});
    {
      auto h = cache.registerUrl(kUrl, 100ms);
      REQUIRE(eventually([&] { return h.current() != nullptr; }));
      CHECK(cache.registeredUrls() == 1);
    }
    CHECK(eventually([&] { return cache.registeredUrls() == 0; }));
  }

  TEST_CASE("shutdown is prompt and handles outlive the cache safely") {
    FakeIssuer issuer;
    issuer.set(jwks({octJwk(randomBytes(32), "a")}));
    JwksCache::Handle h;
    const auto start = std::chrono::steady_clock::now();
    {
      JwksCache cache(issuer.fetcher());
      h = cache.registerUrl(kUrl, 3600s);
      REQUIRE(eventually([&] { return h.current() != nullptr; }));
    }
    CHECK(std::chrono::steady_clock::now() - start < 2s);
    CHECK(hasKid(h.current(), "a"));
    h.onUnknownKid();  // no thread any more: a no-op
    CHECK(issuer.calls == 1);
    JwksCache::Handle empty;
    CHECK_FALSE(empty);
    CHECK(empty.current() == nullptr);
    empty.onUnknownKid();
  }

  TEST_CASE("refreshThen: the waiter is called once the refresh has ended, then it is rate limited") {
    FakeIssuer issuer;
    const std::string secret = randomBytes(32);
    issuer.set(jwks({octJwk(secret, "a")}));
    JwksCache cache(issuer.fetcher(), {.minRefreshInterval = 400ms, .fetchTimeout = 1000ms, .retryInterval = 400ms});
    issuer.hold();
    auto h = cache.registerUrl(kUrl, 3600s);
    // Before the first fetch has ended: the waiter joins it and sees its keys.
    std::atomic<int> called{0};
    std::atomic<bool> sawA{false};
    CHECK(h.refreshThen([&] {
      sawA = hasKid(h.current(), "a");
      ++called;
    }));
    issuer.release();
    REQUIRE(eventually([&] { return called == 1; }));
    CHECK(sawA);
    CHECK(issuer.calls == 1);
    // Inside the minimum interval no fetch is coming: false, and the callback is dropped.
    CHECK_FALSE(h.refreshThen([&] { ++called; }));
    std::this_thread::sleep_for(450ms);
    CHECK(called == 1);
    CHECK(issuer.calls == 1);
    // After it: one fetch for all the waiters, each called once, all seeing the new key.
    issuer.set(jwks({octJwk(secret, "a"), octJwk(secret, "b")}));
    issuer.hold();  // the fetch is under way while the waiters queue
    std::atomic<int> sawB{0};
    for (int i = 0; i < 50; ++i) {
      CHECK(h.refreshThen([&] {
        sawB += hasKid(h.current(), "b") ? 1 : 0;
        ++called;
      }));
    }
    issuer.release();
    REQUIRE(eventually([&] { return called == 51; }));
    CHECK(sawB == 50);
    CHECK(issuer.calls == 2);
    std::this_thread::sleep_for(50ms);
    CHECK(called == 51);
  }

  TEST_CASE("refreshThen after a failed fetch: the waiter is called, the last good set stays") {
    FakeIssuer issuer;
    const std::string secret = randomBytes(32);
    issuer.set(jwks({octJwk(secret, "a")}));
    JwksCache cache(issuer.fetcher(), {.minRefreshInterval = 50ms, .fetchTimeout = 1000ms, .retryInterval = 3600s});
    auto h = cache.registerUrl(kUrl, 3600s);
    REQUIRE(eventually([&] { return h.current() != nullptr; }));
    std::this_thread::sleep_for(60ms);
    issuer.set("", true);
    std::atomic<int> called{0};
    CHECK(h.refreshThen([&] { ++called; }));
    REQUIRE(eventually([&] { return called == 1; }));
    CHECK(issuer.calls == 2);
    CHECK(hasKid(h.current(), "a"));
  }

  TEST_CASE("stop drops the callbacks still waiting, uncalled") {
    // The refresh thread is held in a fetch of another URL while a waiter queues for this one.
    std::mutex m;
    std::condition_variable cv;
    bool release = false;
    std::atomic<int> fetches{0};
    JwksCache cache(
        [&](const std::string& url, const UpstreamTlsSpec*, std::chrono::milliseconds) -> Expected<std::string> {
          ++fetches;
          if (url == "https://slow.example/jwks") {
            std::unique_lock lock(m);
            cv.wait(lock, [&] { return release; });
          }
          return jwks({octJwk(std::string(32, 'k'), "a")});
        },
        {.minRefreshInterval = 50ms, .fetchTimeout = 1000ms, .retryInterval = 50ms});
    auto slow = cache.registerUrl("https://slow.example/jwks", 3600s);
    REQUIRE(eventually([&] { return fetches == 1; }));
    auto h = cache.registerUrl(kUrl, 3600s);
    std::atomic<int> called{0};
    CHECK(h.refreshThen([&] { ++called; }));
    std::thread stopper([&] { cache.stop(); });
    std::this_thread::sleep_for(50ms);  // stop() is now waiting for the thread
    {
      std::lock_guard lock(m);
      release = true;
    }
    cv.notify_all();
    stopper.join();
    CHECK(called == 0);
    CHECK(fetches == 1);
    CHECK_FALSE(h.refreshThen([&] { ++called; }));  // stopped: nothing is coming
    cache.stop();                                    // idempotent
    CHECK(called == 0);
  }

  TEST_CASE("a throwing fetcher is treated as a failed fetch") {
    std::atomic<int> calls{0};
    JwksCache cache(
        [&](const std::string&, const UpstreamTlsSpec*, std::chrono::milliseconds) -> Expected<std::string> {
          ++calls;
          throw std::runtime_error("boom");
        },
        {.minRefreshInterval = 50ms, .fetchTimeout = 1000ms, .retryInterval = 50ms});
    auto h = cache.registerUrl(kUrl, 3600s);
    REQUIRE(eventually([&] { return calls >= 2; }));
    CHECK(h.current() == nullptr);
  }
}
