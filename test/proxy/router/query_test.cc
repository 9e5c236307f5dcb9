#include "proxy/router/query.h"

#include <doctest/doctest.h>

using namespace portico::proxy::router;

TEST_SUITE("router") {
  TEST_CASE("parseQuery decodes names and values with plus as space") {
    const std::vector<QueryParam> params = parseQuery("a=1&b=hello+world&c%20d=%41%2b&e");
    REQUIRE(params.size() == 4);
    CHECK(params[0] == QueryParam{"a", "1"});
    CHECK(params[1] == QueryParam{"b", "hello world"});
    CHECK(params[2] == QueryParam{"c d", "A+"});
    CHECK(params[3] == QueryParam{"e", ""});
  }

  TEST_CASE("parseQuery skips empty pairs and keeps duplicates in order") {
    const std::vector<QueryParam> params = parseQuery("&a=1&&a=2&");
    REQUIRE(params.size() == 2);
    CHECK(params[0] == QueryParam{"a", "1"});
    CHECK(params[1] == QueryParam{"a", "2"});
    CHECK(parseQuery("").empty());
  }

  TEST_CASE("parseQuery keeps malformed escapes literally") {
    const std::vector<QueryParam> params = parseQuery("x=%zz&y=%4&z=100%");
    REQUIRE(params.size() == 3);
    CHECK(params[0].value == "%zz");
    CHECK(params[1].value == "%4");
    CHECK(params[2].value == "100%");
  }

  TEST_CASE("a value containing an equals sign keeps everything after the first one") {
    const std::vector<QueryParam> params = parseQuery("token=a=b=c");
    REQUIRE(params.size() == 1);
    CHECK(params[0] == QueryParam{"token", "a=b=c"});
  }

  TEST_CASE("decodedEquals compares the decoded form without allocating") {
    CHECK(decodedEquals("a%20b", "a b"));
    CHECK(decodedEquals("a+b", "a b"));
    CHECK(decodedEquals("%2B", "+"));
    CHECK(decodedEquals("", ""));
    CHECK_FALSE(decodedEquals("a%20b", "a%20b"));
    CHECK_FALSE(decodedEquals("ab", "abc"));
    CHECK_FALSE(decodedEquals("abc", "ab"));
    CHECK(decodedEquals("%zz", "%zz"));
  }

  TEST_CASE("findRawQueryValue returns the first occurrence of a decoded name") {
    CHECK(findRawQueryValue("v=1&v=2", "v") == std::optional<std::string_view>("1"));
    CHECK(findRawQueryValue("x=1&my%20key=v", "my key") == std::optional<std::string_view>("v"));
    CHECK(findRawQueryValue("flag&x=1", "flag") == std::optional<std::string_view>(""));
    CHECK_FALSE(findRawQueryValue("vv=1&xv=2", "v"));
    CHECK_FALSE(findRawQueryValue("", "v"));
  }

  TEST_CASE("withoutQueryParam drops every pair with that decoded name and keeps the rest as sent") {
    CHECK(withoutQueryParam("api_key=s3cret&a=1", "api_key") == "a=1");
    CHECK(withoutQueryParam("a=1&api%5Fkey=s3cret&b=%20&api_key=x", "api_key") == "a=1&b=%20");
    CHECK(withoutQueryParam("flag&a=&api_key", "api_key") == "flag&a=");
    CHECK(withoutQueryParam("a=1", "api_key") == "a=1");
    CHECK(withoutQueryParam("", "api_key") == "");
  }
}
