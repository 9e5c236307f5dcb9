#include <crypt.h>
#include <doctest/doctest.h>
#include <openssl/evp.h>

#include <atomic>
#include <thread>
#include <vector>

#include "proxy/policy/basic_auth.h"

using namespace portico::proxy;
using namespace portico::proxy::policy;

namespace {

// A real htpasswd hash made with libcrypt (cost/rounds kept low so the tests stay fast).
std::string makeHash(const char* prefix, unsigned long count, const std::string& password) {
  char setting[CRYPT_GENSALT_OUTPUT_SIZE];
  REQUIRE(crypt_gensalt_rn(prefix, count, nullptr, 0, setting, sizeof setting) != nullptr);
  crypt_data data{};
  const char* out = crypt_rn(password.c_str(), setting, &data, sizeof data);
  REQUIRE(out != nullptr);
  REQUIRE(out[0] != '*');
  return out;
}

std::string base64(const std::string& raw) {
  std::string out(4 * ((raw.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(raw.data()), static_cast<int>(raw.size()));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

std::string basic(const std::string& user, const std::string& password) {
  return "Basic " + base64(user + ":" + password);
}

BasicAuthSpec spec(std::string htpasswd) {
  BasicAuthSpec s;
  s.realm = "staff";
  s.htpasswd = std::move(htpasswd);
  return s;
}

BasicAuthenticator build(const std::string& htpasswd, std::size_t capacity = 64) {
  auto a = BasicAuthenticator::create(spec(htpasswd), capacity);
  REQUIRE_MESSAGE(a.has_value(), (a ? std::string() : a.error().message));
  return std::move(a).value();
}

const std::optional<std::string> kNone;

}  // namespace

TEST_SUITE("basic_auth") {
  TEST_CASE("every supported scheme verifies the right password and rejects a wrong one") {
    const std::string htpasswd = "b2b:" + makeHash("$2b$", 4, "pw-b") + "\n" +   //
                                 "b2y:" + makeHash("$2y$", 4, "pw-y") + "\n" +   //
                                 "b2a:" + makeHash("$2a$", 4, "pw-a") + "\n" +   //
                                 "s5:" + makeHash("$5$", 1000, "pw-5") + "\n" +  //
                                 "s6:" + makeHash("$6$", 1000, "pw-6") + "\n";
    auto auth = build(htpasswd);
    CHECK(auth.userCount() == 5);
    CHECK(auth.authenticate(basic("b2b", "pw-b")) == std::optional<std::string>("b2b"));
    CHECK(auth.authenticate(basic("b2y", "pw-y")) == std::optional<std::string>("b2y"));
    CHECK(auth.authenticate(basic("b2a", "pw-a")) == std::optional<std::string>("b2a"));
    CHECK(auth.authenticate(basic("s5", "pw-5")) == std::optional<std::string>("s5"));
    CHECK(auth.authenticate(basic("s6", "pw-6")) == std::optional<std::string>("s6"));
    CHECK(auth.authenticate(basic("b2b", "pw-y")) == kNone);
    CHECK(auth.authenticate(basic("s5", "pw-6")) == kNone);
    CHECK(auth.authenticate(basic("s6", "")) == kNone);
    CHECK(auth.authenticate(basic("b2a", "PW-A")) == kNone);
  }

  TEST_CASE("SHA-crypt with explicit rounds and a password containing colons") {
    auto auth = build("u:" + makeHash("$6$", 5000, "a:b:c"));
    CHECK(auth.authenticate(basic("u", "a:b:c")) == std::optional<std::string>("u"));
    CHECK(auth.authenticate(basic("u", "a:b")) == kNone);
  }

  TEST_CASE("an unknown user costs a hash verification and is rejected") {
    auto auth = build("alice:" + makeHash("$2b$", 4, "secret"));
    CHECK(auth.authenticate(basic("mallory", "secret")) == kNone);
    CHECK(auth.hashVerifications() == 1);
    CHECK(auth.authenticate(basic("mallory", "secret")) == kNone);
    CHECK(auth.hashVerifications() == 2);  // never cached
    CHECK(auth.cacheHits() == 0);
  }

  TEST_CASE("successful verifications are cached; failures are not") {
    auto auth = build("alice:" + makeHash("$2b$", 4, "secret"));
    CHECK(auth.authenticate(basic("alice", "secret")) == std::optional<std::string>("alice"));
    CHECK(auth.hashVerifications() == 1);
    for (int i = 0; i < 5; ++i) CHECK(auth.authenticate(basic("alice", "secret")) == std::optional<std::string>("alice"));
    CHECK(auth.hashVerifications() == 1);
    CHECK(auth.cacheHits() == 5);
    CHECK(auth.authenticate(basic("alice", "wrong")) == kNone);
    CHECK(auth.authenticate(basic("alice", "wrong")) == kNone);
    CHECK(auth.hashVerifications() == 3);
    CHECK(auth.authenticate(basic("alice", "secret ")) == kNone);  // no fuzzy cache hits
  }

  TEST_CASE("the cache is bounded: the oldest entry is evicted") {
    auto auth = build("a:" + makeHash("$5$", 1000, "pa") + "\nb:" + makeHash("$5$", 1000, "pb"), 1);
    CHECK(auth.authenticate(basic("a", "pa")));
    CHECK(auth.authenticate(basic("a", "pa")));
    CHECK(auth.hashVerifications() == 1);
    CHECK(auth.authenticate(basic("b", "pb")));  // evicts a
    CHECK(auth.authenticate(basic("a", "pa")));
    CHECK(auth.hashVerifications() == 3);
  }

  TEST_CASE("a cache capacity of 0 disables caching") {
    auto auth = build("a:" + makeHash("$5$", 1000, "pa"), 0);
    CHECK(auth.authenticate(basic("a", "pa")));
    CHECK(auth.authenticate(basic("a", "pa")));
    CHECK(auth.hashVerifications() == 2);
  }

  TEST_CASE("concurrent authentication from many threads is consistent") {
    auto auth = build("a:" + makeHash("$2b$", 4, "pa") + "\nb:" + makeHash("$6$", 1000, "pb"));
    std::atomic<int> wrong{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 8; ++t) {
      threads.emplace_back([&, t] {
        for (int i = 0; i < 50; ++i) {
          const bool useA = (i + t) % 2 == 0;
          auto ok = auth.authenticate(useA ? basic("a", "pa") : basic("b", "pb"));
          auto bad = auth.authenticate(useA ? basic("a", "pb") : basic("b", "pa"));
          if (ok != std::optional<std::string>(useA ? "a" : "b") || bad) ++wrong;
        }
      });
    }
    for (auto& th : threads) th.join();
    CHECK(wrong == 0);
    CHECK(auth.cacheHits() > 0);
  }

  TEST_CASE("comments, blank lines, CRLF and trailing blanks are accepted") {
    auto auth = build("# users\r\n\r\n  \nalice:" + makeHash("$5$", 1000, "pw") + " \r\n# end");
    CHECK(auth.userCount() == 1);
    CHECK(auth.authenticate(basic("alice", "pw")) == std::optional<std::string>("alice"));
  }

  TEST_CASE("htpasswd errors name the line and the reason") {
    const std::string good = makeHash("$5$", 1000, "pw");
    auto err = [](const std::string& htpasswd) {
      auto a = BasicAuthenticator::create(spec(htpasswd));
      REQUIRE_FALSE(a.has_value());
      return a.error().message;
    };
    CHECK(err("alice:" + good + "\nbob") == "htpasswd line 2: expected user:hash");
    CHECK(err("# c\nalice:" + good + "\nbob:$apr1$abc$defghijkl").find("htpasswd line 3: unsupported hash scheme") == 0);
    CHECK(err("bob:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=").find("line 1: unsupported hash scheme") != std::string::npos);
    CHECK(err("bob:plaintext").find("unsupported hash scheme") != std::string::npos);
    CHECK(err("bob:$1$salt$hash").find("unsupported hash scheme") != std::string::npos);
    CHECK(err("alice:" + good + "\nalice:" + good) == "htpasswd line 2: duplicate user 'alice'");
    CHECK(err(":" + good) == "htpasswd line 1: empty user name");
    CHECK(err("") == "htpasswd: no user entries");
    CHECK(err("# only a comment\n") == "htpasswd: no user entries");
    CHECK(err("u:$2b$04$tooshort") == "htpasswd line 1: malformed bcrypt hash for user 'u'");
    std::string costly = makeHash("$2b$", 4, "pw");
    costly[4] = '3';
    costly[5] = '1';
    CHECK(err("u:" + costly).find("bcrypt cost 31 outside 4..14") != std::string::npos);
    CHECK(err("u:$5$rounds=9999999$salt$" + std::string(43, 'a')).find("rounds above") != std::string::npos);
    CHECK(err("u:$5$salt$" + std::string(42, 'a')).find("malformed SHA-crypt hash") != std::string::npos);
    CHECK(err("u:$6$salt$" + std::string(43, 'a')).find("malformed SHA-crypt hash") != std::string::npos);
  }

  TEST_CASE("Authorization parsing is strict") {
    auto auth = build("alice:" + makeHash("$5$", 1000, "pw"));
    const std::string b64 = base64("alice:pw");
    const std::optional<std::string> alice("alice");
    CHECK(auth.authenticate("Basic " + b64) == alice);
    CHECK(auth.authenticate("basic " + b64) == alice);
    CHECK(auth.authenticate("BASIC   " + b64 + "  ") == alice);
    CHECK(auth.authenticate("Basic" + b64) == kNone);
    CHECK(auth.authenticate("Basic\t" + b64) == kNone);
    CHECK(auth.authenticate("Bearer " + b64) == kNone);
    CHECK(auth.authenticate("Basic " + b64.substr(0, b64.size() - 1)) == kNone);  // bad length
    CHECK(auth.authenticate("Basic " + b64 + "=") == kNone);
    CHECK(auth.authenticate("Basic ") == kNone);
    CHECK(auth.authenticate("") == kNone);
    CHECK(auth.authenticate("Basic " + base64("alicepw")) == kNone);           // no colon
    CHECK(auth.authenticate("Basic " + base64(":pw")) == kNone);               // empty user
    CHECK(auth.authenticate("Basic " + base64("al\nice:pw")) == kNone);        // control char
    CHECK(auth.authenticate("Basic " + base64(std::string("alice:pw\0x", 10))) == kNone);  // NUL
    CHECK(auth.authenticate("Basic YWxpY2U6cHc*") == kNone);                   // bad alphabet
    CHECK(auth.authenticate("Basic YWxp Y2U6cHc=") == kNone);                  // inner blank
    CHECK(auth.authenticate("Basic " + std::string(kMaxAuthorizationLength, 'A')) == kNone);

    // Non-canonical encoding: "YQ==" is "a"; "YR==" carries non-zero unused bits.
    CHECK(parseBasicAuthorization("Basic YWxpY2U6cA==").has_value());
    CHECK_FALSE(parseBasicAuthorization("Basic YWxpY2U6cB==").has_value());
    CHECK_FALSE(parseBasicAuthorization("Basic YWxpY2U6c=A=").has_value());
    auto parsed = parseBasicAuthorization("Basic " + base64("bob:p:w"));
    REQUIRE(parsed);
    CHECK(parsed->user == "bob");
    CHECK(parsed->password == "p:w");
  }

  TEST_CASE("realm, challenge and user header") {
    BasicAuthSpec s = spec("alice:" + makeHash("$5$", 1000, "pw"));
    s.realm = "my \"realm\"\r\nX: y";
    auto a = BasicAuthenticator::create(s);
    REQUIRE(a);
    CHECK(a->realm() == s.realm);
    CHECK(a->wwwAuthenticate() == "Basic realm=\"my \\\"realm\\\"X: y\", charset=\"UTF-8\"");
    CHECK(a->userHeader() == "X-Consumer");
    auto moved = std::move(a).value();
    CHECK(moved.authenticate(basic("alice", "pw")) == std::optional<std::string>("alice"));
  }
}
