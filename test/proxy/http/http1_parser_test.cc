#include "proxy/http/http1_parser.h"

#include <doctest/doctest.h>

#include <string>
#include <vector>

#include <boost/asio/buffer.hpp>
#include <boost/beast/http/error.hpp>

#include "test/proxy/http/parse_head.h"

using namespace portico::proxy::http1;
namespace http = boost::beast::http;
using portico::test::request;
using portico::test::response;

namespace {

std::vector<std::string> valuesOf(const HeaderFields& fields, std::string_view name) {
  std::vector<std::string> out;
  fields.forEach(name, [&](std::string_view v) {
    out.emplace_back(v);
    return true;
  });
  return out;
}

// Feeds `raw` (all that is left of it each time, as a read buffer would hold it), lending
// `bufferSize` bytes for the body each time it is full; returns the decoded body.
std::string decodeBody(Http1Parser<true>& parser, std::string_view raw, size_t bufferSize) {
  std::string body;
  std::vector<char> buffer(bufferSize);
  auto lend = [&] {
    parser.body().data = buffer.data();
    parser.body().size = buffer.size();
  };
  auto collect = [&] { body.append(buffer.data(), buffer.size() - parser.body().size); };
  lend();
  size_t at = 0;
  for (int rounds = 0; !parser.is_done(); ++rounds) {
    REQUIRE(rounds < 1000);
    boost::system::error_code ec;
    const size_t n = parser.put(boost::asio::buffer(raw.data() + at, raw.size() - at), ec);
    at += n;
    if (ec == http::error::need_buffer || parser.body().size == 0) {
      collect();
      lend();
      continue;
    }
    REQUIRE_FALSE(ec);
    REQUIRE(n > 0);
  }
  collect();
  return body;
}

}  // namespace

TEST_SUITE("http1") {
  TEST_CASE("a request head keeps its start line and fields in arrival order") {
    const RequestHead head =
        request("PATCH /a/b?x=1 HTTP/1.1\r\nHost: example.com\r\nX-Custom: one\r\nAccept: */*\r\nx-custom: two\r\n\r\n");
    CHECK(head.method() == http::verb::patch);
    CHECK(head.method_string() == "PATCH");
    CHECK(head.target() == "/a/b?x=1");
    CHECK(head.version() == 11);
    CHECK(head.keep_alive());
    REQUIRE(head.size() == 4);
    std::vector<std::string> names;
    for (const auto& field : head) names.emplace_back(field.name_string());
    CHECK(names == std::vector<std::string>{"Host", "X-Custom", "Accept", "x-custom"});
    CHECK(head.at(0).name() == http::field::host);
    CHECK(head.at(1).name() == http::field::unknown);
  }

  TEST_CASE("lookups are case-insensitive, for known and unknown field names") {
    const RequestHead head = request(
        "GET / HTTP/1.1\r\nhost: h\r\nX-Custom: one\r\nCOOKIE: a=1\r\nx-custom: two\r\nCookie: b=2\r\n\r\n");
    CHECK(head.get("HOST") == std::optional<std::string_view>("h"));
    CHECK(head.get(http::field::host) == std::optional<std::string_view>("h"));
    CHECK(head.get("x-CUSTOM") == std::optional<std::string_view>("one"));
    CHECK(head.count("X-Custom") == 2);
    CHECK(head.count(http::field::cookie) == 2);
    CHECK(head.count("cookie") == 2);
    CHECK_FALSE(head.get("x-missing"));
    CHECK(head["x-missing"].empty());
    CHECK(head[http::field::cookie] == "a=1");
    CHECK(valuesOf(head, "X-CUSTOM") == std::vector<std::string>{"one", "two"});
    CHECK(valuesOf(head, "cookie") == std::vector<std::string>{"a=1", "b=2"});
    std::vector<std::string> first;
    head.forEach(http::field::cookie, [&](std::string_view v) {
      first.emplace_back(v);
      return false;  // stop after the first
    });
    CHECK(first == std::vector<std::string>{"a=1"});
  }

  TEST_CASE("a header larger than the inline buffer keeps every value intact") {
    std::string raw = "GET / HTTP/1.1\r\nHost: h\r\n";
    for (int i = 0; i < 60; ++i) raw += "X-Field-" + std::to_string(i) + ": " + std::string(40, char('a' + i % 26)) + "\r\n";
    raw += "\r\n";
    const RequestHead head = request(raw);
    REQUIRE(head.size() == 61);
    CHECK(head.target() == "/");
    for (int i = 0; i < 60; ++i)
      CHECK(head.get("x-field-" + std::to_string(i)) == std::optional<std::string_view>(std::string(40, char('a' + i % 26))));
  }

  TEST_CASE("keep-alive follows the version and Connection") {
    CHECK_FALSE(request("GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n").keep_alive());
    CHECK_FALSE(request("GET / HTTP/1.0\r\n\r\n").keep_alive());
    CHECK(request("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").keep_alive());
    CHECK_FALSE(response("HTTP/1.1 200 OK\r\n\r\n").keep_alive());  // read until close
    CHECK(response("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n").keep_alive());
  }

  TEST_CASE("a response head keeps status, reason and version") {
    const ResponseHead head = response("HTTP/1.0 404 Not Here\r\nContent-Length: 0\r\nServer: x\r\n\r\n");
    CHECK(head.result_int() == 404);
    CHECK(head.reason() == "Not Here");
    CHECK(head.version() == 10);
    CHECK(head.get("server") == std::optional<std::string_view>("x"));
  }

  TEST_CASE("a body is decoded into the lent buffer piece by piece, Content-Length or chunked") {
    {
      Http1Parser<true> parser;
      CHECK(decodeBody(parser, "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\n\r\nhello world", 4) == "hello world");
    }
    {
      Http1Parser<true> parser;
      CHECK(decodeBody(parser, "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
                       3) == "hello world");
    }
  }

  TEST_CASE("trailer fields never join the header") {
    Http1Parser<true> parser;
    const std::string raw =
        "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
        "2\r\nok\r\n0\r\nX-Api-Key: forged\r\nHost: evil\r\nX-Forwarded-For: 1.2.3.4\r\n\r\n";
    CHECK(decodeBody(parser, raw, 16) == "ok");
    const RequestHead& head = parser.head();
    CHECK(head.size() == 2);
    CHECK_FALSE(head.get("x-api-key"));
    CHECK(head.count(http::field::host) == 1);
    CHECK(head[http::field::host] == "h");
    CHECK_FALSE(head.get("x-forwarded-for"));
  }

  TEST_CASE("clear forgets the start line and every field") {
    RequestHead head = request("GET /secret HTTP/1.1\r\nHost: h\r\n\r\n");
    head.clear();
    CHECK(head.empty());
    CHECK(head.target().empty());
    CHECK(head.method_string().empty());
  }
}
