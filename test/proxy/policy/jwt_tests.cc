#include <doctest/doctest.h>

#include <atomic>
#include <mutex>
#include <thread>

#include "proxy/policy/jwt.h"
#include "test/proxy/policy/jwt_test_support.h"

using namespace portico;
using namespace portico::proxy;
using namespace portico::proxy::policy;
using namespace jwt_test;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

struct Keys {
  Pkey rsa = rsaKey();
  Pkey otherRsa = rsaKey();
  Pkey p256 = ecKey("P-256");
  Pkey p384 = ecKey("P-384");
  std::string secret = randomBytes(32);
  std::string jwks() const {
    return json{{"keys",
                 {rsaJwk(rsa, "r"), ecJwk(p256, "P-256", "e256"), ecJwk(p384, "P-384", "e384"), octJwk(secret, "h")}}}
        .dump();
  }
};

const Keys& keys() {
  static const Keys k;
  return k;
}

const std::chrono::system_clock::time_point kNow{std::chrono::seconds(1'800'000'000)};
constexpr std::int64_t kNowSec = 1'800'000'000;

json claims(json extra = json::object()) {
  json c = {{"sub", "user-1"}, {"iss", "https://issuer.example"}, {"aud", "api"}, {"exp", kNowSec + 3600}};
  for (auto& [k, v] : extra.items()) {
    if (v.is_null())
      c.erase(k);
    else
      c[k] = v;
  }
  return c;
}

JwtAuthSpec spec() {
  JwtAuthSpec s;
  s.issuer = "https://issuer.example";
  s.audiences = {"api", "other-api"};
  s.jwks = keys().jwks();
  s.leeway = 30s;
  return s;
}

JwtVerifier verifier(JwtAuthSpec s = spec(), std::size_t cacheCapacity = JwtVerifier::kDefaultCacheCapacity) {
  auto v = JwtVerifier::create(s, nullptr, cacheCapacity);
  REQUIRE_MESSAGE(v.has_value(), (v ? std::string() : v.error().message));
  return std::move(v).value();
}

std::string token(const std::string& alg, const std::string& kid, const json& c = claims()) {
  json header = {{"alg", alg}, {"typ", "JWT"}};
  if (!kid.empty()) header["kid"] = kid;
  const Pkey& key = alg.starts_with("ES") ? (alg == "ES256" ? keys().p256 : keys().p384) : keys().rsa;
  return signToken(header, c, key, keys().secret);
}

// The error message, or "ok".
std::string outcome(const JwtVerifier& v, const std::string& tok,
                    std::chrono::system_clock::time_point now = kNow) {
  auto r = v.verify(tok, now);
  return r ? "ok" : r.error().message;
}

std::string part(const std::string& tok, int index) {
  std::size_t start = 0;
  for (int i = 0; i < index; ++i) start = tok.find('.', start) + 1;
  return tok.substr(start, tok.find('.', start) - start);
}

struct FakeIssuer {
  std::mutex mutex;
  std::string body;
  std::atomic<int> calls{0};
  JwksFetcher fetcher() {
    return [this](const std::string&, const UpstreamTlsSpec*, std::chrono::milliseconds) -> Expected<std::string> {
      ++calls;
      std::lock_guard lock(mutex);
      return body;
    };
  }
  void set(std::string b) {
    std::lock_guard lock(mutex);
    body = std::move(b);
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

}  // namespace

TEST_SUITE("jwt") {
  TEST_CASE("every supported algorithm verifies, with and without kid") {
    auto v = verifier();
    for (const auto& [alg, kid] : std::vector<std::pair<std::string, std::string>>{{"RS256", "r"},
                                                                                   {"RS384", "r"},
                                                                                   {"RS512", "r"},
                                                                                   {"PS256", "r"},
                                                                                   {"ES256", "e256"},
                                                                                   {"ES384", "e384"},
                                                                                   {"HS256", "h"}}) {
      CAPTURE(alg);
      auto r = v.verify(token(alg, kid), kNow);
      REQUIRE_MESSAGE(r.has_value(), (r ? std::string() : r.error().message));
      CHECK((*r)["sub"] == "user-1");
      CHECK(outcome(v, token(alg, "")) == "ok");  // no kid: every key of the right type is tried
    }
  }

  TEST_CASE("wrong signatures are rejected") {
    auto v = verifier();
    // Signed by a key that is not in the set, claiming the set's kid.
    CHECK(outcome(v, signToken({{"alg", "RS256"}, {"kid", "r"}}, claims(), keys().otherRsa)) == "invalid signature");
    CHECK(outcome(v, signToken({{"alg", "RS256"}}, claims(), keys().otherRsa)) == "invalid signature");
    CHECK(outcome(v, signToken({{"alg", "HS256"}, {"kid", "h"}}, claims(), nullptr, randomBytes(32))) ==
          "invalid signature");
    // RS256 signature presented as RS384 / PKCS#1 v1.5 presented as PSS.
    auto rs = token("RS256", "r");
    CHECK(outcome(v, b64url(json{{"alg", "RS384"}, {"kid", "r"}}.dump()) + "." + part(rs, 1) + "." + part(rs, 2)) ==
          "invalid signature");
    CHECK(outcome(v, b64url(json{{"alg", "PS256"}, {"kid", "r"}}.dump()) + "." + part(rs, 1) + "." + part(rs, 2)) ==
          "invalid signature");
    // A flipped signature byte.
    std::string sig = *base64UrlDecode(part(rs, 2));
    sig[10] = static_cast<char>(sig[10] ^ 0x01);
    CHECK(outcome(v, part(rs, 0) + "." + part(rs, 1) + "." + b64url(sig)) == "invalid signature");
  }

  TEST_CASE("a tampered payload or header is rejected") {
    auto v = verifier();
    for (const auto& [alg, kid] : std::vector<std::pair<std::string, std::string>>{
             {"RS256", "r"}, {"ES256", "e256"}, {"HS256", "h"}, {"PS256", "r"}}) {
      CAPTURE(alg);
      auto t = token(alg, kid);
      const auto forged = b64url(claims({{"sub", "admin"}}).dump());
      CHECK(outcome(v, part(t, 0) + "." + forged + "." + part(t, 2)) == "invalid signature");
      const auto header = b64url(json{{"alg", alg}, {"kid", kid}, {"typ", "at+jwt"}}.dump());
      CHECK(outcome(v, header + "." + part(t, 1) + "." + part(t, 2)) == "invalid signature");
    }
  }

  TEST_CASE("ECDSA signatures must be raw r||s of the curve's length") {
    auto v = verifier();
    auto t = token("ES256", "e256");
    const std::string raw = *base64UrlDecode(part(t, 2));
    CHECK(outcome(v, part(t, 0) + "." + part(t, 1) + "." + b64url(raw.substr(0, 63))) == "invalid signature");
    CHECK(outcome(v, part(t, 0) + "." + part(t, 1) + "." + b64url(raw + "x")) == "invalid signature");
    CHECK(outcome(v, part(t, 0) + "." + part(t, 1) + "." + b64url(std::string(64, '\0'))) == "invalid signature");
    // A DER signature (what OpenSSL produces natively) is not JOSE.
    const std::string input = part(t, 0) + "." + part(t, 1);
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    REQUIRE(EVP_DigestSignInit(ctx, nullptr, EVP_sha256(), nullptr, keys().p256.get()) == 1);
    std::size_t len = 0;
    REQUIRE(EVP_DigestSign(ctx, nullptr, &len, reinterpret_cast<const unsigned char*>(input.data()), input.size()) == 1);
    std::string der(len, '\0');
    REQUIRE(EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(der.data()), &len,
                           reinterpret_cast<const unsigned char*>(input.data()), input.size()) == 1);
    der.resize(len);
    EVP_MD_CTX_free(ctx);
    CHECK(outcome(v, input + "." + b64url(der)) == "invalid signature");
    // ES384 token against the P-256 key.
    CHECK(outcome(v, signToken({{"alg", "ES384"}, {"kid", "e256"}}, claims(), keys().p384)) ==
          "key does not match token alg");
  }

  TEST_CASE("alg none and unsupported algorithms are rejected") {
    auto v = verifier();
    const auto payload = b64url(claims().dump());
    CHECK(outcome(v, b64url(R"({"alg":"none"})") + "." + payload + ".") == "alg none is not allowed");
    CHECK(outcome(v, b64url(R"({"alg":"None","kid":"r"})") + "." + payload + ".") == "alg none is not allowed");
    CHECK(outcome(v, b64url(R"({"alg":"none"})") + "." + payload + "." + b64url("x")) == "alg none is not allowed");
    CHECK(outcome(v, b64url(R"({"alg":"HS512"})") + "." + payload + "." + b64url("x")) == "unsupported alg");
    CHECK(outcome(v, b64url(R"({"alg":"EdDSA"})") + "." + payload + "." + b64url("x")) == "unsupported alg");
    CHECK(outcome(v, b64url(R"({"alg":"rs256"})") + "." + payload + "." + b64url("x")) == "unsupported alg");
    CHECK(outcome(v, b64url(R"({"alg":"RS256"})") + "." + payload + ".") == "missing signature");
  }

  TEST_CASE("algorithm confusion: an RSA public key is never an HMAC secret") {
    auto v = verifier();
    const std::string pem = publicPem(keys().rsa);
    const std::string modulus = bnParam(keys().rsa.get(), OSSL_PKEY_PARAM_RSA_N);
    const std::string jwkText = rsaJwk(keys().rsa, "r").dump();
    for (const auto& secret : {pem, modulus, jwkText}) {
      CHECK(outcome(v, signToken({{"alg", "HS256"}, {"kid", "r"}}, claims(), nullptr, secret)) ==
            "key does not match token alg");
      // Without a kid only the oct key is tried, which does not verify it.
      CHECK(outcome(v, signToken({{"alg", "HS256"}}, claims(), nullptr, secret)) == "invalid signature");
    }
    // A set with only RSA keys has no key at all for HS256.
    JwtAuthSpec s = spec();
    s.jwks = json{{"keys", {rsaJwk(keys().rsa, "r")}}}.dump();
    auto rsaOnly = verifier(s);
    CHECK(outcome(rsaOnly, signToken({{"alg", "HS256"}}, claims(), nullptr, pem)) == "no key for token alg");
    CHECK(outcome(rsaOnly, signToken({{"alg", "ES256"}}, claims(), keys().p256)) == "no key for token alg");
    // An HMAC key is not used for RS256 either.
    CHECK(outcome(v, signToken({{"alg", "RS256"}, {"kid", "h"}}, claims(), keys().rsa)) ==
          "key does not match token alg");
  }

  TEST_CASE("a key's own alg restricts it") {
    JwtAuthSpec s = spec();
    s.jwks = json{{"keys", {rsaJwk(keys().rsa, "r", "RS256")}}}.dump();
    auto v = verifier(s);
    CHECK(outcome(v, token("RS256", "r")) == "ok");
    CHECK(outcome(v, token("PS256", "r")) == "key does not match token alg");
    CHECK(outcome(v, token("RS512", "")) == "no key for token alg");
  }

  TEST_CASE("unknown kid") {
    auto v = verifier();
    CHECK(outcome(v, signToken({{"alg", "RS256"}, {"kid", "nope"}}, claims(), keys().rsa)) == "unknown key id");
    CHECK(outcome(v, signToken({{"alg", "RS256"}, {"kid", ""}}, claims(), keys().rsa)) == "unknown key id");
    // A static key set: no refresh can bring the key, so the caller must not wait for one.
    bool keyMissing = false;
    CHECK_FALSE(v.verify(signToken({{"alg", "RS256"}, {"kid", "nope"}}, claims(), keys().rsa), kNow, &keyMissing));
    CHECK_FALSE(keyMissing);
    CHECK_FALSE(v.refreshKeysThen([] {}));
  }

  TEST_CASE("exp is required; exp and nbf honour the leeway exactly") {
    auto v = verifier();  // leeway 30 s
    CHECK(outcome(v, token("HS256", "h", claims({{"exp", nullptr}}))) == "token has no exp claim");
    CHECK(outcome(v, token("HS256", "h", claims({{"exp", "soon"}}))) == "malformed exp claim");
    CHECK(outcome(v, token("HS256", "h", claims({{"exp", true}}))) == "malformed exp claim");
    CHECK(outcome(v, token("HS256", "h", claims({{"exp", kNowSec - 3600}}))) == "token expired");
    CHECK(outcome(v, token("HS256", "h", claims({{"exp", kNowSec - 29}}))) == "ok");
    CHECK(outcome(v, token("HS256", "h", claims({{"exp", kNowSec - 30}}))) == "token expired");
    CHECK(outcome(v, token("HS256", "h", claims({{"exp", kNowSec - 29.5}}))) == "ok");
    CHECK(outcome(v, token("HS256", "h", claims({{"exp", 1e300}}))) == "ok");
    CHECK(outcome(v, token("HS256", "h", claims({{"exp", -1e300}}))) == "token expired");
    CHECK(outcome(v, token("HS256", "h", claims({{"nbf", kNowSec + 29}}))) == "ok");
    CHECK(outcome(v, token("HS256", "h", claims({{"nbf", kNowSec + 30}}))) == "ok");
    CHECK(outcome(v, token("HS256", "h", claims({{"nbf", kNowSec + 31}}))) == "token not yet valid");
    CHECK(outcome(v, token("HS256", "h", claims({{"nbf", "now"}}))) == "malformed nbf claim");
    // The same token is accepted, then expires as the clock moves on.
    auto t = token("HS256", "h", claims({{"exp", kNowSec + 10}}));
    CHECK(outcome(v, t, kNow) == "ok");
    CHECK(outcome(v, t, kNow + 39s) == "ok");
    CHECK(outcome(v, t, kNow + 40s) == "token expired");

    JwtAuthSpec strict = spec();
    strict.leeway = 0s;
    auto v0 = verifier(strict);
    CHECK(outcome(v0, token("HS256", "h", claims({{"exp", kNowSec}}))) == "token expired");
    CHECK(outcome(v0, token("HS256", "h", claims({{"exp", kNowSec + 1}}))) == "ok");
    CHECK(outcome(v0, token("HS256", "h", claims({{"nbf", kNowSec + 1}}))) == "token not yet valid");
  }

  TEST_CASE("issuer") {
    auto v = verifier();
    CHECK(outcome(v, token("RS256", "r", claims({{"iss", "https://evil.example"}}))) == "issuer not accepted");
    CHECK(outcome(v, token("RS256", "r", claims({{"iss", nullptr}}))) == "issuer not accepted");
    CHECK(outcome(v, token("RS256", "r", claims({{"iss", json::array({"https://issuer.example"})}}))) ==
          "issuer not accepted");
    JwtAuthSpec any = spec();
    any.issuer.clear();
    CHECK(outcome(verifier(any), token("RS256", "r", claims({{"iss", nullptr}}))) == "ok");
  }

  TEST_CASE("audience: string or array containing one of the accepted ones") {
    auto v = verifier();
    CHECK(outcome(v, token("ES256", "e256", claims({{"aud", "other-api"}}))) == "ok");
    CHECK(outcome(v, token("ES256", "e256", claims({{"aud", {"x", "api"}}}))) == "ok");
    CHECK(outcome(v, token("ES256", "e256", claims({{"aud", "nope"}}))) == "audience not accepted");
    CHECK(outcome(v, token("ES256", "e256", claims({{"aud", {"x", "y"}}}))) == "audience not accepted");
    CHECK(outcome(v, token("ES256", "e256", claims({{"aud", json::array()}}))) == "audience not accepted");
    CHECK(outcome(v, token("ES256", "e256", claims({{"aud", nullptr}}))) == "audience not accepted");
    CHECK(outcome(v, token("ES256", "e256", claims({{"aud", {{"api", 1}}}}))) == "audience not accepted");
    CHECK(outcome(v, token("ES256", "e256", claims({{"aud", {1, "API"}}}))) == "audience not accepted");
    JwtAuthSpec any = spec();
    any.audiences.clear();
    CHECK(outcome(verifier(any), token("ES256", "e256", claims({{"aud", nullptr}}))) == "ok");
  }

  TEST_CASE("malformed tokens are rejected with specific errors") {
    auto v = verifier();
    auto good = token("HS256", "h");
    const auto h = part(good, 0), p = part(good, 1), s = part(good, 2);
    auto signedWith = [&](const std::string& header, const std::string& payload) {
      const std::string input = b64url(header) + "." + b64url(payload);
      return input + "." + b64url(hmacSha256(keys().secret, input));
    };
    CHECK(outcome(v, "") == "missing token");
    CHECK(outcome(v, h + "." + p) == "malformed token: expected three parts");
    CHECK(outcome(v, h + "." + p + "." + s + ".") == "malformed token: expected three parts");
    CHECK(outcome(v, "..") == "malformed token header");
    CHECK(outcome(v, h + "=." + p + "." + s) == "malformed token header");
    CHECK(outcome(v, h + "." + p + "=." + s) == "malformed token payload");
    CHECK(outcome(v, h + "." + p + "." + s + "=") == "malformed token signature");
    std::string plus = s;
    plus[0] = '+';
    CHECK(outcome(v, h + "." + p + "." + plus) == "malformed token signature");
    CHECK(outcome(v, h + ".." + s) == "malformed token payload");
    CHECK(outcome(v, b64url("not json") + "." + p + "." + s) == "malformed token header");
    CHECK(outcome(v, b64url("[\"alg\",\"HS256\"]") + "." + p + "." + s) == "malformed token header");
    CHECK(outcome(v, b64url("{\"kid\":\"h\"}") + "." + p + "." + s) == "token header has no alg");
    CHECK(outcome(v, b64url("{\"alg\":256}") + "." + p + "." + s) == "token header has no alg");
    CHECK(outcome(v, b64url("{\"alg\":\"HS256\",\"kid\":1}") + "." + p + "." + s) == "malformed token header");
    CHECK(outcome(v, b64url("{\"alg\":\"HS256\",\"typ\":[]}") + "." + p + "." + s) == "malformed token header");
    CHECK(outcome(v, signedWith(R"({"alg":"HS256","kid":"h","crit":["exp"]})", claims().dump())) ==
          "unsupported crit header");
    CHECK(outcome(v, signedWith(R"({"alg":"HS256","kid":"h"})", "not json")) == "malformed token payload");
    CHECK(outcome(v, signedWith(R"({"alg":"HS256","kid":"h"})", "[1,2]")) == "malformed token payload");
    CHECK(outcome(v, signedWith(R"({"alg":"HS256","kid":"h"})", claims().dump())) == "ok");
    // Size limit, even for an otherwise valid token.
    auto big = token("HS256", "h", claims({{"pad", std::string(kMaxTokenBytes, 'x')}}));
    CHECK(outcome(v, big) == "token too large");
    CHECK(outcome(v, std::string(kMaxTokenBytes + 1, 'a')) == "token too large");
    CHECK(outcome(v, good) == "ok");
  }

  TEST_CASE("verified tokens are cached until min(exp, 60 s) and errors are not") {
    auto v = verifier();
    auto t = token("RS256", "r");
    CHECK(outcome(v, t) == "ok");
    CHECK(v.signatureVerifications() == 1);
    for (int i = 0; i < 10; ++i) CHECK(outcome(v, t, kNow + std::chrono::seconds(i)) == "ok");
    CHECK(v.signatureVerifications() == 1);
    CHECK(v.cacheHits() == 10);
    // After 60 s the entry is stale: verified again, then cached again.
    CHECK(outcome(v, t, kNow + 61s) == "ok");
    CHECK(v.signatureVerifications() == 2);
    CHECK(outcome(v, t, kNow + 62s) == "ok");
    CHECK(v.signatureVerifications() == 2);

    // A token expiring within the minute is cached only until exp, then rejected.
    auto shortLived = token("RS256", "r", claims({{"exp", kNowSec + 5}}));
    CHECK(outcome(v, shortLived) == "ok");
    CHECK(outcome(v, shortLived, kNow + 4s) == "ok");
    CHECK(v.signatureVerifications() == 3);
    CHECK(outcome(v, shortLived, kNow + 6s) == "ok");  // past exp: re-verified (within leeway)
    CHECK(v.signatureVerifications() == 4);
    CHECK(outcome(v, shortLived, kNow + 36s) == "token expired");

    // Failures are never cached.
    auto bad = signToken({{"alg", "RS256"}, {"kid", "r"}}, claims(), keys().otherRsa);
    CHECK(outcome(v, bad) == "invalid signature");
    CHECK(outcome(v, bad) == "invalid signature");
    CHECK(v.signatureVerifications() == 7);
  }

  TEST_CASE("the cache is bounded and can be disabled") {
    auto v = verifier(spec(), 2);
    auto a = token("ES256", "e256", claims({{"sub", "a"}}));
    auto b = token("ES256", "e256", claims({{"sub", "b"}}));
    auto c = token("ES256", "e256", claims({{"sub", "c"}}));
    CHECK(outcome(v, a) == "ok");
    CHECK(outcome(v, b) == "ok");
    CHECK(outcome(v, c) == "ok");  // evicts a
    CHECK(v.signatureVerifications() == 3);
    CHECK(outcome(v, c) == "ok");
    CHECK(outcome(v, b) == "ok");
    CHECK(v.signatureVerifications() == 3);
    CHECK(outcome(v, a) == "ok");
    CHECK(v.signatureVerifications() == 4);

    auto none = verifier(spec(), 0);
    CHECK(outcome(none, a) == "ok");
    CHECK(outcome(none, a) == "ok");
    CHECK(none.signatureVerifications() == 2);
    CHECK(none.cacheHits() == 0);
  }

  TEST_CASE("claims come back intact from the cache") {
    auto v = verifier();
    auto t = token("HS256", "h", claims({{"roles", {"a", "b"}}, {"tenant", 42}}));
    auto first = v.verify(t, kNow);
    auto second = v.verify(t, kNow);
    REQUIRE(first);
    REQUIRE(second);
    CHECK(*first == *second);
    CHECK((*second)["roles"] == json({"a", "b"}));
    CHECK(v.cacheHits() == 1);
  }

  TEST_CASE("with a JWKS URL: unknown kid triggers a rate-limited refresh; the key set change empties the cache") {
    FakeIssuer issuer;
    const Pkey rotated = rsaKey();
    issuer.set(json{{"keys", {rsaJwk(keys().rsa, "r")}}}.dump());
    JwksCache cache(issuer.fetcher(), {.minRefreshInterval = 300ms, .fetchTimeout = 1000ms, .retryInterval = 300ms});
    JwtAuthSpec s = spec();
    s.jwks.clear();
    s.jwksUri = "https://issuer.example/.well-known/jwks.json";
    s.jwksRefreshInterval = 3600s;
    auto created = JwtVerifier::create(s, &cache);
    REQUIRE(created);
    auto& v = *created;
    auto t = token("RS256", "r");
    REQUIRE(eventually([&] { return outcome(v, t) == "ok"; }));
    CHECK(issuer.calls == 1);

    // The issuer rotates in a new key; tokens with its kid are rejected until the refresh.
    issuer.set(json{{"keys", {rsaJwk(keys().rsa, "r"), rsaJwk(rotated, "r2")}}}.dump());
    auto t2 = signToken({{"alg", "RS256"}, {"kid", "r2"}}, claims(), rotated);
    for (int i = 0; i < 200; ++i) CHECK(outcome(v, t2) == "unknown key id");  // inside minRefreshInterval
    std::this_thread::sleep_for(100ms);
    CHECK(issuer.calls == 1);
    bool keyMissing = false;
    CHECK_FALSE(v.verify(t2, kNow, &keyMissing));
    CHECK(keyMissing);                          // a refresh might bring it...
    CHECK_FALSE(v.refreshKeysThen([] {}));      // ...but not now: rate limited
    std::this_thread::sleep_for(300ms);
    const auto before = v.signatureVerifications();
    CHECK(outcome(v, t2) == "unknown key id");  // this one asks for the refresh
    for (int i = 0; i < 200; ++i) (void)v.verify(t2, kNow);
    REQUIRE(eventually([&] { return outcome(v, t2) == "ok"; }));
    CHECK(issuer.calls == 2);
    // The key set changed: the cached verification of `t` is gone, so it is verified again.
    CHECK(outcome(v, t) == "ok");
    CHECK(v.signatureVerifications() == before + 2);
    CHECK(outcome(v, t) == "ok");
    CHECK(v.signatureVerifications() == before + 2);
  }

  TEST_CASE("with a JWKS URL before the first fetch: rejected, no crash") {
    FakeIssuer issuer;
    issuer.set("{\"keys\":[]}");
    JwksCache cache(issuer.fetcher(), {.minRefreshInterval = 50ms, .fetchTimeout = 1000ms, .retryInterval = 50ms});
    JwtAuthSpec s = spec();
    s.jwks.clear();
    s.jwksUri = "http://issuer.example/jwks";
    auto v = JwtVerifier::create(s, &cache);
    REQUIRE(v);
    CHECK(outcome(*v, token("RS256", "r")) == "signing keys not available");
  }

  TEST_CASE("create: key source errors") {
    auto err = [](JwtAuthSpec s, JwksCache* cache = nullptr) {
      auto v = JwtVerifier::create(s, cache);
      REQUIRE_FALSE(v.has_value());
      return v.error().message;
    };
    JwtAuthSpec s = spec();
    s.jwksUri = "https://x/jwks";
    CHECK(err(s) == "jwt: set either jwks or jwksUri, not both");
    s = spec();
    s.jwks.clear();
    CHECK(err(s) == "jwt: neither jwks nor jwksUri is set");
    s.jwksUri = "https://x/jwks";
    CHECK(err(s) == "jwt: jwksUri needs a JWKS cache");
    s.jwksUri = "ftp://x/jwks";
    JwksCache cache([](const std::string&, const UpstreamTlsSpec*, std::chrono::milliseconds) -> Expected<std::string> {
      return makeError("offline");
    });
    CHECK(err(s, &cache) == "jwt: jwksUri must be an http:// or https:// URL");
    s = spec();
    s.jwks = "{";
    CHECK(err(s) == "jwt: JWKS: not valid JSON");
    s.jwks = json{{"keys", {octJwk("short", "x")}}}.dump();
    CHECK(err(s) == "jwt: JWKS has no usable key (keys[0] (kid \"x\"): HMAC key shorter than 32 bytes)");
  }

  TEST_CASE("concurrent verification from many threads") {
    auto v = verifier(spec(), 16);
    std::vector<std::string> tokens;
    for (int i = 0; i < 32; ++i) tokens.push_back(token(i % 2 ? "ES256" : "HS256", i % 2 ? "e256" : "h",
                                                        claims({{"sub", "u" + std::to_string(i)}})));
    std::atomic<int> wrong{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 8; ++t) {
      threads.emplace_back([&, t] {
        for (int i = 0; i < 200; ++i) {
          const auto& tok = tokens[static_cast<std::size_t>((i * 7 + t) % 32)];
          auto r = v.verify(tok, kNow);
          if (!r || !(*r)["sub"].is_string()) ++wrong;
          if (v.verify(tok + "x", kNow)) ++wrong;
        }
      });
    }
    for (auto& th : threads) th.join();
    CHECK(wrong == 0);
    CHECK(v.cacheHits() > 0);
  }

  TEST_CASE("bearerToken") {
    CHECK(bearerToken("Bearer abc.def.ghi") == std::optional<std::string_view>("abc.def.ghi"));
    CHECK(bearerToken("bearer   abc ") == std::optional<std::string_view>("abc"));
    CHECK(bearerToken("BEARER abc") == std::optional<std::string_view>("abc"));
    CHECK_FALSE(bearerToken("Bearer"));
    CHECK_FALSE(bearerToken("Bearer "));
    CHECK_FALSE(bearerToken("Bearerabc"));
    CHECK_FALSE(bearerToken("Basic abc"));
    CHECK_FALSE(bearerToken("Bearer a b"));
    CHECK_FALSE(bearerToken("Bearer a\x01"));
  }

  TEST_CASE("claims as header values") {
    const json c = {{"sub", "alice"}, {"n", 42},          {"f", 1.5},        {"admin", true},
                    {"nil", nullptr}, {"obj", {{"a", 1}}}, {"arr", {1, 2}},   {"crlf", "a\r\nX-Evil: 1"},
                    {"tab", "a\tb"},  {"long", std::string(5000, 'x')}, {"utf8", "Zoë"}};
    CHECK(claimAsString(c, "sub") == std::optional<std::string>("alice"));
    CHECK(claimAsString(c, "n") == std::optional<std::string>("42"));
    CHECK(claimAsString(c, "f") == std::optional<std::string>("1.5"));
    CHECK(claimAsString(c, "admin") == std::optional<std::string>("true"));
    CHECK(claimAsString(c, "utf8") == std::optional<std::string>("Zoë"));
    CHECK_FALSE(claimAsString(c, "nil"));
    CHECK_FALSE(claimAsString(c, "obj"));
    CHECK_FALSE(claimAsString(c, "arr"));
    CHECK_FALSE(claimAsString(c, "crlf"));
    CHECK_FALSE(claimAsString(c, "tab"));
    CHECK_FALSE(claimAsString(c, "long"));
    CHECK_FALSE(claimAsString(c, "missing"));
    CHECK_FALSE(claimAsString(json::array(), "sub"));
    auto headers = forwardedClaimHeaders(c, {{"sub", "X-User"}, {"obj", "X-Obj"}, {"n", "X-N"}, {"crlf", "X-Crlf"}});
    REQUIRE(headers.size() == 2);
    CHECK(headers[0] == std::pair<std::string, std::string>("X-User", "alice"));
    CHECK(headers[1] == std::pair<std::string, std::string>("X-N", "42"));
  }
}
