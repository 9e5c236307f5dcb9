#include <doctest/doctest.h>

#include "proxy/policy/api_key.h"

using namespace portico::proxy;
using portico::proxy::policy::ApiKeyAuthenticator;

namespace {
ApiKeyAuthSpec spec(std::vector<std::pair<std::string, std::string>> keys) {
  ApiKeyAuthSpec s;
  s.header = "X-Api-Key";
  s.keys = std::move(keys);
  return s;
}
}  // namespace

TEST_SUITE("api_key") {
  TEST_CASE("a configured key yields its consumer") {
    ApiKeyAuthenticator auth(spec({{"alice", "key-alice-123"}, {"bob", "key-bob-456"}, {"carol", "k3"}}));
    CHECK(auth.authenticate("key-alice-123") == std::optional<std::string>("alice"));
    CHECK(auth.authenticate("key-bob-456") == std::optional<std::string>("bob"));
    CHECK(auth.authenticate("k3") == std::optional<std::string>("carol"));
    CHECK(auth.keyCount() == 3);
    CHECK(auth.header() == "X-Api-Key");
    CHECK(auth.query().empty());
    CHECK(auth.consumerHeader() == "X-Consumer");
  }

  TEST_CASE("unknown, prefix, extended and case-changed keys are rejected") {
    ApiKeyAuthenticator auth(spec({{"alice", "key-alice-123"}}));
    CHECK_FALSE(auth.authenticate("key-alice-12"));
    CHECK_FALSE(auth.authenticate("key-alice-1234"));
    CHECK_FALSE(auth.authenticate("KEY-ALICE-123"));
    CHECK_FALSE(auth.authenticate("nope"));
    CHECK_FALSE(auth.authenticate(std::string_view("key-alice-123\0", 14)));
  }

  TEST_CASE("an empty presented key is rejected, and empty configured keys are ignored") {
    ApiKeyAuthenticator auth(spec({{"ghost", ""}, {"alice", "a"}}));
    CHECK_FALSE(auth.authenticate(""));
    CHECK(auth.keyCount() == 1);
    CHECK(auth.authenticate("a") == std::optional<std::string>("alice"));
  }

  TEST_CASE("no keys configured rejects everything") {
    ApiKeyAuthenticator auth(spec({}));
    CHECK_FALSE(auth.authenticate("anything"));
  }

  TEST_CASE("a key shared by two consumers resolves to the first one") {
    ApiKeyAuthenticator auth(spec({{"first", "same"}, {"second", "same"}, {"third", "other"}}));
    CHECK(auth.authenticate("same") == std::optional<std::string>("first"));
    CHECK(auth.authenticate("other") == std::optional<std::string>("third"));
  }

  TEST_CASE("the last of many keys is found (no early-exit assumptions)") {
    std::vector<std::pair<std::string, std::string>> keys;
    for (int i = 0; i < 500; ++i) keys.emplace_back("c" + std::to_string(i), "key-" + std::to_string(i));
    ApiKeyAuthenticator auth(spec(keys));
    CHECK(auth.authenticate("key-0") == std::optional<std::string>("c0"));
    CHECK(auth.authenticate("key-499") == std::optional<std::string>("c499"));
    CHECK(auth.authenticate("key-250") == std::optional<std::string>("c250"));
    CHECK_FALSE(auth.authenticate("key-500"));
  }

  TEST_CASE("binary keys work") {
    const std::string key("\x00\xff\x10 k", 5);
    ApiKeyAuthenticator auth(spec({{"bin", key}}));
    CHECK(auth.authenticate(key) == std::optional<std::string>("bin"));
    CHECK_FALSE(auth.authenticate(key.substr(1)));
  }
}
