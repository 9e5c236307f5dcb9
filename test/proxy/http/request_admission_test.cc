#include "proxy/http/request_admission.h"

#include <doctest/doctest.h>

#include "test/proxy/http/parse_head.h"

using namespace portico::proxy::http1;
using portico::proxy::router::EscapedSlashes;
using portico::test::request;

namespace {

struct Result {
  std::optional<Refusal> refusal;
  AdmittedRequest admitted;
};

Result admit(std::string_view head, AdmissionOptions options = {}) {
  Result r;
  auto parsed = request(head);
  r.refusal = admitRequest(parsed, options, r.admitted);
  // authority, query and upgrade view into the parsed header, which dies here: keep what
  // the tests read (ASan found upgrade read after the header was freed).
  if (!r.refusal) {
    static thread_local std::string authority, query, upgrade;
    authority = std::string(r.admitted.authority);
    query = std::string(r.admitted.query);
    upgrade = std::string(r.admitted.upgrade);
    r.admitted.authority = authority;
    r.admitted.query = query;
    r.admitted.upgrade = upgrade;
  }
  return r;
}

unsigned status(std::string_view head, AdmissionOptions options = {}) {
  auto r = admit(head, options);
  return r.refusal ? r.refusal->status : 0;
}

}  // namespace

TEST_SUITE("http1") {
  TEST_CASE("an ordinary request is admitted with its host, path and query") {
    auto r = admit("GET /a/../b?x=1 HTTP/1.1\r\nHost: Example.COM.:8080\r\n\r\n");
    REQUIRE_FALSE(r.refusal);
    CHECK(r.admitted.authority == "Example.COM.:8080");
    CHECK(r.admitted.host == "example.com");
    CHECK(r.admitted.path == "/b");
    CHECK(r.admitted.routingPath() == "/b");
    CHECK(r.admitted.query == "x=1");
    CHECK(r.admitted.body == Framing::None);
    CHECK(r.admitted.upgrade.empty());
  }

  TEST_CASE("version, framing and Host are checked") {
    CHECK(status("GET / HTTP/1.1\r\n\r\n") == 400);  // no Host
    CHECK(status("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n") == 400);
    CHECK(status("GET / HTTP/1.1\r\nHost: a/b\r\n\r\n") == 400);
    CHECK(status("POST / HTTP/1.0\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n") == 400);
    CHECK(status("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity\r\nTransfer-Encoding: chunked\r\n\r\n") ==
          400);
    auto chunked = admit("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n");
    REQUIRE_FALSE(chunked.refusal);
    CHECK(chunked.admitted.body == Framing::Chunked);
    auto length = admit("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 7\r\n\r\n");
    CHECK(length.admitted.body == Framing::Length);
    CHECK(length.admitted.contentLength == 7);
  }

  TEST_CASE("an HTTP/1.0 request without Host is admitted with no authority") {
    auto r = admit("GET /x HTTP/1.0\r\n\r\n");
    REQUIRE_FALSE(r.refusal);
    CHECK(r.admitted.authority.empty());
    CHECK(r.admitted.host.empty());
  }

  TEST_CASE("an absolute-form target's authority replaces Host") {
    auto r = admit("GET http://Real.Example:81/p?q=1 HTTP/1.1\r\nHost: other.example\r\n\r\n");
    REQUIRE_FALSE(r.refusal);
    CHECK(r.admitted.authority == "Real.Example:81");
    CHECK(r.admitted.host == "real.example");
    CHECK(r.admitted.path == "/p");
    CHECK(r.admitted.query == "q=1");
    auto bare = admit("GET https://a.example HTTP/1.1\r\nHost: b\r\n\r\n");
    REQUIRE_FALSE(bare.refusal);
    CHECK(bare.admitted.path == "/");
    CHECK(status("GET http://user@a.example/ HTTP/1.1\r\nHost: a\r\n\r\n") == 400);
    CHECK(status("GET ftp://a.example/ HTTP/1.1\r\nHost: a\r\n\r\n") == 400);
    CHECK(status("GET http:///x HTTP/1.1\r\nHost: a\r\n\r\n") == 400);
    CHECK(status("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n") == 400);
  }

  TEST_CASE("underscored field names: dropped later, or refused here") {
    const std::string_view head = "GET / HTTP/1.1\r\nHost: a\r\nX_Consumer: admin\r\n\r\n";
    CHECK(status(head) == 0);
    CHECK(status(head, {UnderscoreHeaders::Reject, EscapedSlashes::Reject}) == 400);
    CHECK(status(head, {UnderscoreHeaders::Allow, EscapedSlashes::Reject}) == 0);
  }

  TEST_CASE("escaped slashes follow the configured action") {
    const std::string_view head = "GET /admin%2Fsecret?k=v HTTP/1.1\r\nHost: a\r\n\r\n";
    CHECK(status(head) == 400);
    auto redirect = admit(head, {UnderscoreHeaders::Drop, EscapedSlashes::UnescapeAndRedirect});
    REQUIRE_FALSE(redirect.refusal);
    REQUIRE(redirect.admitted.redirectTo);
    CHECK(*redirect.admitted.redirectTo == "/admin/secret?k=v");
    auto forward = admit(head, {UnderscoreHeaders::Drop, EscapedSlashes::UnescapeAndForward});
    CHECK_FALSE(forward.admitted.redirectTo);
    CHECK(forward.admitted.path == "/admin/secret");
    auto keep = admit(head, {UnderscoreHeaders::Drop, EscapedSlashes::Keep});
    CHECK(keep.admitted.path == "/admin%2Fsecret");
    CHECK(status("GET /a%00 HTTP/1.1\r\nHost: a\r\n\r\n") == 400);
  }

  TEST_CASE("path parameters are cut for routing, kept for the backend") {
    auto r = admit("GET /admin;x=1/users HTTP/1.1\r\nHost: a\r\n\r\n");
    REQUIRE_FALSE(r.refusal);
    CHECK(r.admitted.path == "/admin;x=1/users");
    CHECK(r.admitted.routingPath() == "/admin/users");
    CHECK(status("GET /public/..;/admin HTTP/1.1\r\nHost: a\r\n\r\n") == 400);
  }

  TEST_CASE("only a WebSocket upgrade on GET is allowed") {
    auto ws = admit("GET /ws HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, Upgrade\r\nUpgrade: WebSocket\r\n\r\n");
    CHECK(ws.admitted.upgrade == "WebSocket");
    CHECK(admit("GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n"
                "HTTP2-Settings: AAMAAABkAAQAoAAAAAIAAAAA\r\n\r\n").admitted.upgrade.empty());
    CHECK(admit("GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n\r\n").admitted.upgrade.empty());
    CHECK(admit("POST / HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\nUpgrade: websocket\r\nContent-Length: 0\r\n\r\n")
              .admitted.upgrade.empty());
  }

  TEST_CASE("routingHost strips port and trailing dot and lower-cases") {
    CHECK(routingHost("[::1]:8080") == "[::1]");
    CHECK(routingHost("Example.COM.:80") == "example.com");
    CHECK(routingHost("a.example") == "a.example");
  }
}
