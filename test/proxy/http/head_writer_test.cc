#include "proxy/http/head_writer.h"

#include <doctest/doctest.h>

#include "test/proxy/http/parse_head.h"

using namespace portico::proxy::http1;
using portico::proxy::HeaderEdits;
using portico::test::request;
using portico::test::response;

namespace {

RequestHeadPlan basicPlan() {
  RequestHeadPlan plan;
  plan.method = "POST";
  plan.target = "/up";
  plan.host = "backend.internal";
  return plan;
}

// How many lines of `head` start with "name:" (case-insensitive).
int count(const std::string& head, std::string_view name) {
  int n = 0;
  size_t pos = 0;
  while (pos < head.size()) {
    const size_t end = head.find("\r\n", pos);
    const std::string_view line(head.data() + pos, end - pos);
    if (line.size() > name.size() && line[name.size()] == ':' &&
        boost::beast::iequals(line.substr(0, name.size()), name))
      ++n;
    pos = end + 2;
  }
  return n;
}

}  // namespace

TEST_SUITE("http1") {
  TEST_CASE("the upstream request carries Portico's framing, never the client's") {
    auto client = request("POST /x HTTP/1.1\r\nHost: client.example\r\nTransfer-Encoding: chunked\r\n"
                          "Connection: Content-Length, Transfer-Encoding, Host, X-Drop\r\nX-Drop: 1\r\n"
                          "Keep-Alive: 5\r\nTE: trailers\r\nTrailer: X-Later\r\nExpect: 100-continue\r\n"
                          "Upgrade: h2c\r\nHTTP2-Settings: AA\r\nX-Keep: yes\r\n\r\n");
    std::string head;
    RequestHeadPlan plan = basicPlan();
    writeRequestHead(head, client, plan);
    endRequestHead(head, plan, Framing::Length, 5);
    CHECK(head ==
          "POST /up HTTP/1.1\r\nHost: backend.internal\r\nX-Keep: yes\r\nContent-Length: 5\r\n\r\n");
    writeRequestHead(head, client, plan);
    endRequestHead(head, plan, Framing::Chunked, 0);
    CHECK(count(head, "transfer-encoding") == 1);
    CHECK(count(head, "content-length") == 0);
  }

  TEST_CASE("Portico's own fields cannot be shadowed or removed by the client") {
    auto client = request("GET /x HTTP/1.1\r\nHost: h\r\nX-Forwarded-For: 6.6.6.6\r\nx-request-id: evil\r\n"
                          "Connection: X-Forwarded-For, X-Request-Id\r\nX_Consumer: admin\r\nX-Consumer: admin\r\n"
                          "Authorization: Basic eA==\r\n\r\n");
    std::string head;
    RequestHeadPlan plan = basicPlan();
    plan.own = {{"X-Forwarded-For", "6.6.6.6, 10.0.0.1"}, {"X-Request-Id", "abc"}};
    plan.strip = {"x-consumer", "authorization"};
    writeRequestHead(head, client, plan);
    CHECK(count(head, "x-forwarded-for") == 1);
    CHECK(head.find("X-Forwarded-For: 6.6.6.6, 10.0.0.1\r\n") != std::string::npos);
    CHECK(count(head, "x-request-id") == 1);
    CHECK(head.find("X-Request-Id: abc\r\n") != std::string::npos);
    CHECK(count(head, "x-consumer") == 0);
    CHECK(count(head, "x_consumer") == 0);
    CHECK(count(head, "authorization") == 0);
  }

  TEST_CASE("underscored names pass only when allowed") {
    auto client = request("GET / HTTP/1.1\r\nHost: h\r\nX_Thing: 1\r\n\r\n");
    std::string head;
    RequestHeadPlan plan = basicPlan();
    writeRequestHead(head, client, plan);
    CHECK(count(head, "x_thing") == 0);
    plan.underscores = UnderscoreHeaders::Allow;
    writeRequestHead(head, client, plan);
    CHECK(count(head, "x_thing") == 1);
  }

  TEST_CASE("route edits apply last but never write framing or Host; unsafe values are skipped") {
    auto client = request("GET / HTTP/1.1\r\nHost: h\r\nX-Debug: 1\r\nX-Env: dev\r\n\r\n");
    HeaderEdits edits;
    edits.remove = {"x-debug", "X-Forwarded-Proto"};
    edits.set = {{"X-Env", "prod"}, {"Content-Length", "0"}, {"Host", "evil"}};
    edits.add = {{"X-Added", "a"}, {"Transfer-Encoding", "chunked"}};
    RequestHeadPlan plan = basicPlan();
    plan.own = {{"X-Forwarded-Proto", "https"}, {"X-Claim", "a\r\nInjected: 1"}};
    plan.edits = &edits;
    std::string head;
    writeRequestHead(head, client, plan);
    endRequestHead(head, plan, Framing::None, 0);
    CHECK(head ==
          "POST /up HTTP/1.1\r\nHost: backend.internal\r\nX-Env: prod\r\nX-Added: a\r\n\r\n");
  }

  TEST_CASE("an upgrade is written by Portico") {
    auto client = request("GET /ws HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
                          "Sec-WebSocket-Key: k\r\n\r\n");
    RequestHeadPlan plan = basicPlan();
    plan.method = "GET";
    plan.upgrade = "websocket";
    std::string head;
    writeRequestHead(head, client, plan);
    endRequestHead(head, plan, Framing::None, 0);
    CHECK(head ==
          "GET /up HTTP/1.1\r\nHost: backend.internal\r\nSec-WebSocket-Key: k\r\nConnection: upgrade\r\n"
          "Upgrade: websocket\r\n\r\n");
  }

  TEST_CASE("the response header is Portico's: framing, Connection and filtered fields") {
    auto upstream = response("HTTP/1.1 200 Fine\r\nContent-Length: 3\r\nConnection: close, X-Secret\r\n"
                             "X-Secret: s\r\nServer: app\r\nX_Under: 1\r\nKeep-Alive: timeout=5\r\n\r\n");
    ResponseHeadPlan plan;
    plan.own = {{"Access-Control-Allow-Origin", "https://a.example"}};
    std::string head;
    writeResponseHead(head, upstream, plan);
    endResponseHead(head, plan, Framing::Chunked, 0, true);
    CHECK(head ==
          "HTTP/1.1 200 OK\r\nServer: app\r\nAccess-Control-Allow-Origin: https://a.example\r\n"
          "Transfer-Encoding: chunked\r\n\r\n");
    writeResponseHead(head, upstream, plan);
    endResponseHead(head, plan, Framing::UntilClose, 0, false);
    CHECK(count(head, "connection") == 1);
    CHECK(head.find("Connection: close\r\n") != std::string::npos);
    CHECK(count(head, "transfer-encoding") + count(head, "content-length") == 0);
    plan.http10Client = true;
    writeResponseHead(head, upstream, plan);
    endResponseHead(head, plan, Framing::Length, 3, true);
    CHECK(head.find("Content-Length: 3\r\nConnection: keep-alive\r\n\r\n") != std::string::npos);
  }

  TEST_CASE("HEAD and 304 keep the representation's length; unknown statuses have no reason") {
    auto upstream = response("HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\n\r\n");
    ResponseHeadPlan plan;
    plan.status = 304;
    plan.representationLength = 42;
    std::string head;
    writeResponseHead(head, upstream, plan);
    endResponseHead(head, plan, Framing::None, 0, true);
    CHECK(head == "HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\nContent-Length: 42\r\n\r\n");
    plan = {};
    plan.status = 299;
    writeResponseHead(head, upstream, plan);
    endResponseHead(head, plan, Framing::Length, 0, true);
    CHECK(head.rfind("HTTP/1.1 299 \r\n", 0) == 0);
  }
}
