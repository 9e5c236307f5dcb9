#include "proxy/router/path.h"

#include <doctest/doctest.h>

#include <optional>
#include <string>

using portico::proxy::router::normalizePath;
using portico::proxy::router::splitTarget;

namespace {
// "<rejected>" for nullopt, so that failures print both sides.
std::string norm(std::string_view raw) {
  std::optional<std::string> out = normalizePath(raw);
  return out ? *out : std::string("<rejected>");
}
}  // namespace

TEST_SUITE("router") {
  TEST_CASE("normalizePath keeps an already normal path unchanged") {
    CHECK(norm("/") == "/");
    CHECK(norm("/admin") == "/admin");
    CHECK(norm("/a/b/c") == "/a/b/c");
    CHECK(norm("/a-b_c.d~e") == "/a-b_c.d~e");
    CHECK(norm("/a:b@c!$&'()*+,;=") == "/a:b@c!$&'()*+,;=");
  }

  TEST_CASE("normalizePath keeps a trailing slash") {
    CHECK(norm("/admin/") == "/admin/");
    CHECK(norm("/a/b/") == "/a/b/");
  }

  TEST_CASE("normalizePath is case-sensitive") {
    CHECK(norm("/Admin") == "/Admin");
    CHECK(norm("/ADMIN/X") == "/ADMIN/X");
  }

  TEST_CASE("normalizePath collapses repeated slashes") {
    CHECK(norm("//admin") == "/admin");
    CHECK(norm("/a//b///c") == "/a/b/c");
    CHECK(norm("//") == "/");
    CHECK(norm("/a//") == "/a/");
  }

  TEST_CASE("normalizePath removes dot segments and never climbs above the root") {
    CHECK(norm("/admin/../admin") == "/admin");
    CHECK(norm("/a/./b/../c") == "/a/c");
    CHECK(norm("/a/b/c/./../../g") == "/a/g");       // RFC 3986 5.2.4 example
    CHECK(norm("/mid/content=5/../6") == "/mid/6");  // RFC 3986 5.2.4 example
    CHECK(norm("/..") == "/");
    CHECK(norm("/../admin") == "/admin");
    CHECK(norm("/../../../etc/passwd") == "/etc/passwd");
    CHECK(norm("/.") == "/");
    CHECK(norm("/./admin") == "/admin");
    CHECK(norm("/public/../../admin") == "/admin");
  }

  TEST_CASE("normalizePath leaves a trailing slash after a final dot segment") {
    CHECK(norm("/a/b/..") == "/a/");
    CHECK(norm("/a/.") == "/a/");
    CHECK(norm("/a/..") == "/");
    CHECK(norm("/a/../") == "/");
  }

  TEST_CASE("normalizePath keeps segments that only look like dots") {
    CHECK(norm("/a/.../b") == "/a/.../b");
    CHECK(norm("/a/..b/c") == "/a/..b/c");
    CHECK(norm("/a/.b") == "/a/.b");
    CHECK(norm("/a/b..") == "/a/b..");
  }

  TEST_CASE("normalizePath decodes unreserved escapes") {
    CHECK(norm("/%61dmin") == "/admin");
    CHECK(norm("/%41%5a%30%2D%2e%5F%7e") == "/AZ0-._~");
  }

  TEST_CASE("normalizePath treats decoded dots as dot segments") {
    CHECK(norm("/%2e%2e/admin") == "/admin");
    CHECK(norm("/a/%2E/b") == "/a/b");
    CHECK(norm("/x/.%2e/admin") == "/admin");
  }

  TEST_CASE("normalizePath keeps reserved escapes encoded with upper-case hex") {
    CHECK(norm("/a%2fb") == "/a%2Fb");
    CHECK(norm("/a%2Fb") == "/a%2Fb");
    CHECK(norm("/a%20b") == "/a%20b");
    CHECK(norm("/%3f%23%25") == "/%3F%23%25");
    CHECK(norm("/caf%c3%a9") == "/caf%C3%A9");
    CHECK(norm("/%00") == "<rejected>");  // issue 10: %00 is always 400
  }

  TEST_CASE("normalizePath keeps an encoded slash inside one segment, which is not a dot segment") {
    CHECK(norm("/admin%2f..") == "/admin%2F..");
    CHECK(norm("/admin%2F..%2Fsecret") == "/admin%2F..%2Fsecret");
    CHECK(norm("/public/..%2fadmin") == "/public/..%2Fadmin");
  }

  TEST_CASE("normalizePath rejects a path that does not start with a slash") {
    CHECK_FALSE(normalizePath(""));
    CHECK_FALSE(normalizePath("admin"));
    CHECK_FALSE(normalizePath("*"));
    CHECK_FALSE(normalizePath("http://example.com/"));
    CHECK_FALSE(normalizePath("%2Fadmin"));
  }

  TEST_CASE("normalizePath rejects NUL, control characters and a fragment") {
    CHECK_FALSE(normalizePath(std::string_view("/a\0b", 4)));
    CHECK_FALSE(normalizePath("/a\tb"));
    CHECK_FALSE(normalizePath("/a\r\nb"));
    CHECK_FALSE(normalizePath("/a\x7f"));
    CHECK_FALSE(normalizePath("/a#frag"));
  }

  TEST_CASE("normalizePath rejects malformed percent escapes") {
    CHECK_FALSE(normalizePath("/%zz"));
    CHECK_FALSE(normalizePath("/%4"));
    CHECK_FALSE(normalizePath("/a%"));
    CHECK_FALSE(normalizePath("/%g1"));
    CHECK_FALSE(normalizePath("/%1g/x"));
  }

  TEST_CASE("normalizePath is idempotent") {
    for (const char* raw :
         {"/admin/../admin", "//a//b/", "/%61%2f..", "/a/./b/../c/", "/x/%2e%2E/y"}) {
      CAPTURE(raw);
      const std::string once = norm(raw);
      CHECK(norm(once) == once);
    }
  }

  TEST_CASE("splitTarget splits at the first question mark") {
    auto [path, query] = splitTarget("/a/b?x=1&y=2");
    CHECK(path == "/a/b");
    CHECK(query == "x=1&y=2");

    auto second = splitTarget("/a?b?c");
    CHECK(second.path == "/a");
    CHECK(second.query == "b?c");

    auto none = splitTarget("/a/b");
    CHECK(none.path == "/a/b");
    CHECK(none.query.empty());

    auto emptyQuery = splitTarget("/a?");
    CHECK(emptyQuery.path == "/a");
    CHECK(emptyQuery.query.empty());
  }
}

using portico::proxy::router::EscapedSlashes;
using portico::proxy::router::withoutPathParameters;

namespace {
std::string norm(std::string_view raw, EscapedSlashes action) {
  auto out = normalizePath(raw, action);
  return out.path ? *out.path : std::string("<rejected>");
}
}  // namespace

TEST_SUITE("router") {
  TEST_CASE("%00 and escaped control bytes are never a path") {
    CHECK(norm("/a%00b") == "<rejected>");
    CHECK(norm("/a%0Ab") == "<rejected>");
    CHECK(norm("/a%0db") == "<rejected>");
    CHECK(norm("/a%7F") == "<rejected>");
    CHECK(norm("/a%20b") == "/a%20b");
  }

  TEST_CASE("a dot segment hidden behind path parameters is rejected") {
    CHECK(norm("/..;/admin") == "<rejected>");
    CHECK(norm("/public/..;x=1/admin") == "<rejected>");
    CHECK(norm("/a/.;/b") == "<rejected>");
    CHECK(norm("/a/%2e%2e;/b") == "<rejected>");
    CHECK(norm("/a/..x;/b") == "/a/..x;/b");
    CHECK(norm("/app;jsessionid=1/x") == "/app;jsessionid=1/x");
  }

  TEST_CASE("escaped slashes: reject, unescape or keep") {
    for (std::string_view raw : {"/admin%2Fx", "/admin%2fx", "/admin%5Cx", "/admin%5cx", "/admin\\x"}) {
      CAPTURE(raw);
      auto rejected = normalizePath(raw, EscapedSlashes::Reject);
      CHECK(rejected.escapedSlashes);
      CHECK_FALSE(rejected.path);
      CHECK(norm(raw, EscapedSlashes::UnescapeAndForward) == "/admin/x");
      CHECK(norm(raw, EscapedSlashes::UnescapeAndRedirect) == "/admin/x");
    }
    CHECK(norm("/admin%2Fx", EscapedSlashes::Keep) == "/admin%2Fx");
    CHECK(norm("/admin\\x", EscapedSlashes::Keep) == "/admin\\x");
    // Unescaped, a dot segment behind an escaped slash is a dot segment like any other.
    CHECK(norm("/public%2F..%2Fadmin", EscapedSlashes::UnescapeAndForward) == "/admin");
    CHECK(norm("/public\\..\\admin", EscapedSlashes::UnescapeAndForward) == "/admin");
    auto plain = normalizePath("/plain/path", EscapedSlashes::Reject);
    CHECK_FALSE(plain.escapedSlashes);
    CHECK(*plain.path == "/plain/path");
    // "%2" at the end is a bad escape, not an escaped slash.
    CHECK(norm("/a%2", EscapedSlashes::Reject) == "<rejected>");
    CHECK_FALSE(normalizePath("/a%2", EscapedSlashes::Reject).escapedSlashes);
  }

  TEST_CASE("withoutPathParameters removes each segment's parameters") {
    CHECK(withoutPathParameters("/admin;x=1/a") == "/admin/a");
    CHECK(withoutPathParameters("/admin;x;y") == "/admin");
    CHECK(withoutPathParameters("/a;/b;c/") == "/a/b/");
    CHECK(withoutPathParameters("/plain") == "/plain");
  }
}
