#include "proxy/http/forwarding_plan.h"

#include <doctest/doctest.h>

#include "test/proxy/http/parse_head.h"

using namespace portico::proxy;
using namespace portico::proxy::http1;
using portico::test::request;

namespace {

// The value of `name` among the plan's own fields, or nullopt.
std::optional<std::string_view> own(const ForwardingPlan& plan, std::string_view name) {
  for (const auto& [n, v] : plan.head.own)
    if (n == name) return v;
  return std::nullopt;
}

bool strips(const ForwardingPlan& plan, std::string_view name) {
  return std::find(plan.head.strip.begin(), plan.head.strip.end(), name) != plan.head.strip.end();
}

struct Planned {
  RequestHeader header;
  AdmittedRequest admitted;
  ForwardingPlan plan;
};

// Admits `raw` as the proxy does, then plans it for `spec`.
std::unique_ptr<Planned> plan(std::string_view raw, const RouteSpec& spec, ForwardingFacts facts,
                              const policy::Admission& admission = {},
                              std::optional<std::string> regexRewritten = std::nullopt) {
  auto p = std::make_unique<Planned>();
  p->header = request(raw);
  REQUIRE_FALSE(admitRequest(p->header, AdmissionOptions{}, p->admitted).has_value());
  p->plan.forwardedFor = joinedValues(p->header, "x-forwarded-for");
  planForwarding(p->header, p->admitted, spec, admission, std::move(regexRewritten), facts, p->plan);
  return p;
}

ForwardingFacts untrustedPeer() {
  ForwardingFacts facts;
  facts.peer = "203.0.113.7";
  facts.clientAddress = "203.0.113.7";
  facts.localPort = "8080";
  facts.requestId = "rid-1";
  return facts;
}

}  // namespace

TEST_SUITE("forwarding plan") {
  TEST_CASE("an untrusted peer's forwarding headers are replaced, its X-Forwarded-For extended") {
    RouteSpec spec;
    auto p = plan(
        "GET /a?x=1 HTTP/1.1\r\nHost: Shop.Example:8080\r\nX-Forwarded-For: 10.0.0.1\r\n"
        "X-Forwarded-For: 10.0.0.2\r\nX-Forwarded-Proto: https\r\nX-Forwarded-Host: evil\r\n"
        "X-Forwarded-Port: 1\r\nForwarded: for=1.2.3.4\r\n\r\n",
        spec, untrustedPeer());
    CHECK(p->plan.target == "/a?x=1");
    CHECK(p->plan.head.host == "Shop.Example:8080");
    CHECK(own(p->plan, "X-Forwarded-For") == "10.0.0.1, 10.0.0.2, 203.0.113.7");
    CHECK(own(p->plan, "X-Forwarded-Proto") == "http");
    CHECK(own(p->plan, "X-Forwarded-Host") == "Shop.Example:8080");
    CHECK(own(p->plan, "X-Forwarded-Port") == "8080");
    CHECK(own(p->plan, "X-Real-IP") == "203.0.113.7");
    CHECK(own(p->plan, "X-Request-Id") == "rid-1");
    CHECK(strips(p->plan, "forwarded"));
    CHECK(strips(p->plan, "x-consumer"));
  }

  TEST_CASE("a trusted proxy's X-Forwarded-Proto/-Host/-Port and Forwarded pass on") {
    RouteSpec spec;
    ForwardingFacts facts = untrustedPeer();
    facts.peerTrusted = true;
    facts.clientAddress = "198.51.100.9";
    facts.tls = true;
    auto p = plan(
        "GET / HTTP/1.1\r\nHost: a.example\r\nX-Forwarded-For: 198.51.100.9\r\nX-Forwarded-Proto: http\r\n"
        "X-Forwarded-Host: outer.example\r\nX-Forwarded-Port: 80\r\nForwarded: for=198.51.100.9\r\n\r\n",
        spec, facts);
    CHECK(own(p->plan, "X-Forwarded-Proto") == "http");
    CHECK(own(p->plan, "X-Forwarded-Host") == "outer.example");
    CHECK(own(p->plan, "X-Forwarded-Port") == "80");
    CHECK(own(p->plan, "X-Real-IP") == "198.51.100.9");
    CHECK_FALSE(strips(p->plan, "forwarded"));
    CHECK(strips(p->plan, "x-consumer"));  // never from anyone
  }

  TEST_CASE("empty trusted values fall back to Portico's own") {
    RouteSpec spec;
    ForwardingFacts facts = untrustedPeer();
    facts.peerTrusted = true;
    facts.tls = true;
    auto p = plan("GET / HTTP/1.1\r\nHost: a.example\r\nX-Forwarded-Proto: \r\n\r\n", spec, facts);
    CHECK(own(p->plan, "X-Forwarded-Proto") == "https");
  }

  TEST_CASE("rewrites: regex first, then prefix, on the path without parameters") {
    RouteSpec spec;
    spec.path = "/api/";
    spec.pathType = PathMatchType::Prefix;
    spec.rewritePathPrefix = "/v2/";
    auto prefixed = plan("GET /api/users;jsessionid=1?q=2 HTTP/1.1\r\nHost: a\r\n\r\n", spec, untrustedPeer());
    CHECK(prefixed->plan.target == "/v2/users?q=2");
    auto regex = plan("GET /api/users HTTP/1.1\r\nHost: a\r\n\r\n", spec, untrustedPeer(), {}, "/r/users");
    CHECK(regex->plan.target == "/r/users");
    spec.rewriteHost = "internal.svc";
    auto host = plan("GET /api/x HTTP/1.1\r\nHost: a\r\n\r\n", spec, untrustedPeer());
    CHECK(host->plan.head.host == "internal.svc");
  }

  TEST_CASE("rewrittenPath on Exact and Prefix routes") {
    RouteSpec spec;
    spec.path = "/old";
    spec.pathType = PathMatchType::Prefix;
    spec.rewritePathPrefix = "/new";
    CHECK(rewrittenPath(spec, "/old/x") == "/new/x");
    CHECK(rewrittenPath(spec, "/old") == "/new");
    spec.rewritePathPrefix = "/";
    CHECK(rewrittenPath(spec, "/old/x") == "/x");
    CHECK(rewrittenPath(spec, "/old") == "/");
    spec.pathType = PathMatchType::Exact;
    spec.rewritePathPrefix = "/exact";
    CHECK(rewrittenPath(spec, "/old") == "/exact");
  }

  TEST_CASE("the admission's identity headers are set, credentials stripped, an API key query param removed") {
    RouteSpec spec;
    policy::Admission admission;
    admission.setUpstream.emplace_back("X-Consumer", "alice");
    admission.removeUpstream.push_back("authorization");
    admission.removeQueryParam = "apikey";
    auto p = plan("GET /p?apikey=s3cret&x=1 HTTP/1.1\r\nHost: a\r\n\r\n", spec, untrustedPeer(), admission);
    CHECK(p->plan.target == "/p?x=1");
    CHECK(own(p->plan, "X-Consumer") == "alice");
    CHECK(strips(p->plan, "authorization"));
    auto onlyKey = plan("GET /p?apikey=s3cret HTTP/1.1\r\nHost: a\r\n\r\n", spec, untrustedPeer(), admission);
    CHECK(onlyKey->plan.target == "/p");
  }

  TEST_CASE("an HTTP/1.0 request without Host has no X-Forwarded-Host and an empty plan host") {
    RouteSpec spec;
    auto p = plan("GET / HTTP/1.0\r\n\r\n", spec, untrustedPeer());
    CHECK(p->plan.head.host.empty());  // the upstream stage writes the endpoint address
    CHECK_FALSE(own(p->plan, "X-Forwarded-Host").has_value());
  }
}
