#include <doctest/doctest.h>

#include "proxy/router/cookie.h"

using portico::proxy::router::findCookie;

TEST_CASE("findCookie finds a cookie among several and ignores look-alikes") {
  CHECK(findCookie("a=1; portico-affinity=abc; b=2", "portico-affinity") == "abc");
  CHECK(findCookie("a=1;b=2", "b") == "2");
  CHECK(findCookie("xa=1; a=2", "a") == "2");
  CHECK(findCookie("a=1; a=2", "a") == "1");
  CHECK(findCookie("a", "a") == std::nullopt);
  CHECK(findCookie("", "a") == std::nullopt);
  CHECK(findCookie("b=1", "a") == std::nullopt);
  CHECK(findCookie("a=", "a") == "");
  CHECK(findCookie("a=\"q\"", "a") == "\"q\"");
}
