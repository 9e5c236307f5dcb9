#include "proxy/policy/cors.h"

#include <doctest/doctest.h>

#include <optional>
#include <string>

using namespace std::chrono_literals;
using portico::proxy::CorsSpec;
using portico::proxy::policy::CorsDenial;
using portico::proxy::policy::CorsHeaders;
using portico::proxy::policy::CorsPolicy;
using portico::proxy::policy::isPreflight;

namespace {
// The value of `name` (exact spelling) or nullopt; fails the test on duplicates.
std::optional<std::string> header(const CorsHeaders& headers, std::string_view name) {
  std::optional<std::string> found;
  for (const auto& [n, v] : headers) {
    if (n == name) {
      CHECK_FALSE(found.has_value());
      found = v;
    }
  }
  return found;
}

CorsSpec spec(std::vector<std::string> origins, bool credentials = false) {
  CorsSpec s;
  s.allowOrigins = std::move(origins);
  s.allowMethods = {"GET", "PUT", "DELETE"};
  s.allowHeaders = {"Content-Type", "X-Request-Id"};
  s.exposeHeaders = {"X-Trace"};
  s.allowCredentials = credentials;
  s.maxAge = 600s;
  return s;
}
}  // namespace

TEST_SUITE("cors") {
  TEST_CASE("isPreflight needs OPTIONS, Origin and Access-Control-Request-Method") {
    CHECK(isPreflight("OPTIONS", true, true));
    CHECK_FALSE(isPreflight("OPTIONS", true, false));
    CHECK_FALSE(isPreflight("OPTIONS", false, true));
    CHECK_FALSE(isPreflight("GET", true, true));
    CHECK_FALSE(isPreflight("options", true, true));  // methods are case-sensitive
  }

  TEST_CASE("origins: exact match, compared after lower-casing, port and scheme matter") {
    CorsPolicy p(spec({"https://App.Example.com", "http://localhost:3000/"}));
    CHECK(p.originAllowed("https://app.example.com"));
    CHECK(p.originAllowed("HTTPS://APP.EXAMPLE.COM"));
    CHECK(p.originAllowed("http://localhost:3000"));
    CHECK_FALSE(p.originAllowed("http://app.example.com"));
    CHECK_FALSE(p.originAllowed("https://app.example.com:443"));
    CHECK_FALSE(p.originAllowed("http://localhost:3001"));
    CHECK_FALSE(p.originAllowed("http://localhost"));
    CHECK_FALSE(p.originAllowed("https://app.example.com.evil.com"));
    CHECK_FALSE(p.originAllowed("https://app.example.com/"));
    CHECK_FALSE(p.originAllowed("https://app.example.com/path"));
    CHECK_FALSE(p.originAllowed("https://user@app.example.com"));
    CHECK_FALSE(p.originAllowed("https://app.example.com\r\nSet-Cookie: x=1"));
    CHECK_FALSE(p.originAllowed(""));
    CHECK_FALSE(p.originAllowed("null"));
  }

  TEST_CASE("origins: subdomain wildcard excludes the bare domain and look-alikes") {
    CorsPolicy p(spec({"https://*.example.com", "https://*.ports.example:8443"}));
    CHECK(p.originAllowed("https://a.example.com"));
    CHECK(p.originAllowed("https://a.b.example.com"));
    CHECK(p.originAllowed("https://A.Example.COM"));
    CHECK_FALSE(p.originAllowed("https://example.com"));
    CHECK_FALSE(p.originAllowed("https://evil-example.com"));
    CHECK_FALSE(p.originAllowed("https://evilexample.com"));
    CHECK_FALSE(p.originAllowed("https://.example.com"));
    CHECK_FALSE(p.originAllowed("https://a..example.com"));
    CHECK_FALSE(p.originAllowed("http://a.example.com"));
    CHECK_FALSE(p.originAllowed("https://a.example.com:8443"));
    CHECK_FALSE(p.originAllowed("https://a.example.com.evil.org"));
    CHECK(p.originAllowed("https://x.ports.example:8443"));
    CHECK_FALSE(p.originAllowed("https://x.ports.example"));
  }

  TEST_CASE("origins: '*' and 'null'") {
    CorsPolicy any(spec({"*"}));
    CHECK(any.originAllowed("https://whatever.test"));
    CHECK(any.originAllowed("null"));
    CHECK_FALSE(any.originAllowed("not an origin"));
    CorsPolicy anyWithCredentials(spec({"*"}, true));
    CHECK(anyWithCredentials.originAllowed("https://whatever.test"));
    CHECK_FALSE(anyWithCredentials.originAllowed("null"));  // sandboxed documents
    CorsPolicy explicitNull(spec({"null"}, true));
    CHECK(explicitNull.originAllowed("null"));
    CorsPolicy nothing(spec({}));
    CHECK_FALSE(nothing.originAllowed("https://a.test"));
    CorsPolicy malformed(spec({"not-an-origin", "https://*", "https://a.test/path"}));
    CHECK_FALSE(malformed.originAllowed("https://a.test"));
    CHECK_FALSE(malformed.originAllowed("not-an-origin"));
  }

  TEST_CASE("origins: IPv6 literals and ports") {
    CorsPolicy p(spec({"http://[::1]:8080"}));
    CHECK(p.originAllowed("http://[::1]:8080"));
    CHECK_FALSE(p.originAllowed("http://[::1]"));
    CHECK_FALSE(p.originAllowed("http://[::1:8080"));
  }

  TEST_CASE("preflight: allowed origin and method echo the origin with every header") {
    CorsPolicy p(spec({"https://app.example.com"}, true));
    auto r = p.preflight("https://app.example.com", "PUT", "content-type, X-Request-ID");
    REQUIRE(r.allowed);
    CHECK(r.denial == CorsDenial::None);
    CHECK(header(r.headers, "Access-Control-Allow-Origin") == "https://app.example.com");
    CHECK(header(r.headers, "Access-Control-Allow-Credentials") == "true");
    CHECK(header(r.headers, "Access-Control-Allow-Methods") == "GET, PUT, DELETE");
    CHECK(header(r.headers, "Access-Control-Allow-Headers") == "Content-Type, X-Request-Id");
    CHECK(header(r.headers, "Access-Control-Max-Age") == "600");
    CHECK(header(r.headers, "Vary") == "Origin");
    CHECK_FALSE(header(r.headers, "Access-Control-Expose-Headers").has_value());
  }

  TEST_CASE("preflight: '*' origin without credentials answers '*', with credentials echoes") {
    auto r = CorsPolicy(spec({"*"})).preflight("https://x.test", "GET", "");
    REQUIRE(r.allowed);
    CHECK(header(r.headers, "Access-Control-Allow-Origin") == "*");
    CHECK_FALSE(header(r.headers, "Access-Control-Allow-Credentials").has_value());
    r = CorsPolicy(spec({"*"}, true)).preflight("https://x.test", "GET", "");
    REQUIRE(r.allowed);
    CHECK(header(r.headers, "Access-Control-Allow-Origin") == "https://x.test");
    CHECK(header(r.headers, "Access-Control-Allow-Credentials") == "true");
  }

  TEST_CASE("preflight: denials name the reason and carry no headers") {
    CorsPolicy p(spec({"https://app.example.com"}));
    auto r = p.preflight("https://other.example.com", "GET", "");
    CHECK_FALSE(r.allowed);
    CHECK(r.denial == CorsDenial::Origin);
    CHECK(r.headers.empty());
    r = p.preflight("https://app.example.com", "PATCH", "");
    CHECK_FALSE(r.allowed);
    CHECK(r.denial == CorsDenial::Method);
    CHECK(r.headers.empty());
    r = p.preflight("https://app.example.com", "put", "");  // case-sensitive
    CHECK(r.denial == CorsDenial::Method);
    r = p.preflight("https://app.example.com", "GE T", "");
    CHECK(r.denial == CorsDenial::Method);
    r = p.preflight("https://app.example.com", "", "");
    CHECK(r.denial == CorsDenial::Method);
    r = p.preflight("https://app.example.com", "PUT", "content-type, authorization");
    CHECK_FALSE(r.allowed);
    CHECK(r.denial == CorsDenial::Headers);
    CHECK(r.headers.empty());
    r = p.preflight("https://app.example.com", "PUT", "content type");
    CHECK(r.denial == CorsDenial::Headers);
    r = p.preflight("https://app.example.com", "PUT", "x-request-id\r\nx: y");
    CHECK(r.denial == CorsDenial::Headers);
  }

  TEST_CASE("preflight: safelisted methods always pass; empty lists and stray commas") {
    CorsSpec s;
    s.allowOrigins = {"https://a.test"};
    CorsPolicy p(s);
    auto r = p.preflight("https://a.test", "POST", " , ,");
    REQUIRE(r.allowed);
    CHECK_FALSE(header(r.headers, "Access-Control-Allow-Methods").has_value());
    CHECK_FALSE(header(r.headers, "Access-Control-Allow-Headers").has_value());
    CHECK_FALSE(header(r.headers, "Access-Control-Max-Age").has_value());
    CHECK(p.preflight("https://a.test", "HEAD", "").allowed);
    CHECK_FALSE(p.preflight("https://a.test", "PUT", "").allowed);
    CHECK_FALSE(p.preflight("https://a.test", "GET", "x-custom").allowed);
  }

  TEST_CASE("preflight: '*' methods and headers echo the request, with Vary on them") {
    CorsSpec s;
    s.allowOrigins = {"https://a.test"};
    s.allowMethods = {"*"};
    s.allowHeaders = {"*"};
    s.allowCredentials = true;
    CorsPolicy p(s);
    auto r = p.preflight("https://a.test", "PATCH", "Authorization,X-Custom ,  x-other");
    REQUIRE(r.allowed);
    CHECK(header(r.headers, "Access-Control-Allow-Methods") == "PATCH");
    CHECK(header(r.headers, "Access-Control-Allow-Headers") == "authorization, x-custom, x-other");
    CHECK(header(r.headers, "Vary") == "Origin, Access-Control-Request-Method, Access-Control-Request-Headers");
    // Limits on the untrusted list.
    std::string many;
    for (int i = 0; i < 65; ++i) many += "h" + std::to_string(i) + ",";
    CHECK(p.preflight("https://a.test", "GET", many).denial == CorsDenial::Headers);
    CHECK(p.preflight("https://a.test", "GET", std::string(9000, 'a')).denial == CorsDenial::Headers);
  }

  TEST_CASE("actual responses: allowed origin, credentials, expose headers, Vary") {
    CorsPolicy p(spec({"https://app.example.com", "https://*.example.org"}, true));
    auto h = p.actualResponseHeaders("https://APP.example.com");
    CHECK(header(h, "Access-Control-Allow-Origin") == "https://app.example.com");
    CHECK(header(h, "Access-Control-Allow-Credentials") == "true");
    CHECK(header(h, "Access-Control-Expose-Headers") == "X-Trace");
    CHECK(header(h, "Vary") == "Origin");
    h = p.actualResponseHeaders("https://x.example.org");
    CHECK(header(h, "Access-Control-Allow-Origin") == "https://x.example.org");
    // Not allowed, or no Origin: no CORS headers but still Vary for caches.
    h = p.actualResponseHeaders("https://evil.test");
    REQUIRE(h.size() == 1);
    CHECK(header(h, "Vary") == "Origin");
    h = p.actualResponseHeaders("");
    REQUIRE(h.size() == 1);
    CHECK(header(h, "Vary") == "Origin");
  }

  TEST_CASE("actual responses: '*' without credentials is the same for every origin") {
    CorsPolicy p(spec({"*"}));
    auto h = p.actualResponseHeaders("https://x.test");
    CHECK(header(h, "Access-Control-Allow-Origin") == "*");
    CHECK(header(h, "Access-Control-Expose-Headers") == "X-Trace");
    CHECK_FALSE(header(h, "Access-Control-Allow-Credentials").has_value());
    CHECK_FALSE(header(h, "Vary").has_value());
    CHECK(p.actualResponseHeaders("").empty());
  }
}
