#include <doctest/doctest.h>

#include "proxy/config/route_table.h"
#include "test/proxy/router/fake_request.h"

using namespace portico::proxy;
using namespace portico::proxy::testing;

namespace {

// Matches `path` on host example.com and returns the route name or "<none>".
std::string on(const RouteTableConstSharedPtr& table, std::string path) {
  REQUIRE(table);
  return matchedName(*table, FakeRequest("example.com", std::move(path)));
}

RouteSpec withMethods(RouteSpec spec, std::vector<std::string> methods) {
  spec.methods = std::move(methods);
  return spec;
}
RouteSpec withHeader(RouteSpec spec, std::string name, HeaderMatchType type,
                     std::string value = "") {
  spec.headers.push_back({std::move(name), type, std::move(value)});
  return spec;
}
RouteSpec withQuery(RouteSpec spec, std::string name, std::string value) {
  spec.query.push_back({std::move(name), std::move(value)});
  return spec;
}

}  // namespace

TEST_SUITE("router") {
  // Kubernetes Ingress "Examples" table (concepts/services-networking/ingress/#examples).
  TEST_CASE("ingress example: Prefix / matches all paths") {
    auto t = buildTable({prefix("root", "/")});
    CHECK(on(t, "/") == "root");
    CHECK(on(t, "/anything") == "root");
    CHECK(on(t, "/a/b/c/") == "root");
  }

  TEST_CASE("ingress example: Exact /foo matches /foo but not /bar nor /foo/") {
    auto t = buildTable({exact("foo", "/foo")});
    CHECK(on(t, "/foo") == "foo");
    CHECK(on(t, "/bar") == "<none>");
    CHECK(on(t, "/foo/") == "<none>");
  }

  TEST_CASE("ingress example: Exact /foo/ does not match /foo") {
    auto t = buildTable({exact("foo/", "/foo/")});
    CHECK(on(t, "/foo") == "<none>");
    CHECK(on(t, "/foo/") == "foo/");
  }

  TEST_CASE("ingress example: Prefix /foo matches /foo and /foo/") {
    auto t = buildTable({prefix("foo", "/foo")});
    CHECK(on(t, "/foo") == "foo");
    CHECK(on(t, "/foo/") == "foo");
  }

  TEST_CASE("ingress example: Prefix /foo/ matches /foo and /foo/") {
    auto t = buildTable({prefix("foo/", "/foo/")});
    CHECK(on(t, "/foo") == "foo/");
    CHECK(on(t, "/foo/") == "foo/");
  }

  TEST_CASE("ingress example: Prefix /aaa/bb does not match /aaa/bbb") {
    auto t = buildTable({prefix("bb", "/aaa/bb")});
    CHECK(on(t, "/aaa/bbb") == "<none>");
    CHECK(on(t, "/aaa/bb") == "bb");
  }

  TEST_CASE("ingress example: Prefix /aaa/bbb matches /aaa/bbb") {
    auto t = buildTable({prefix("bbb", "/aaa/bbb")});
    CHECK(on(t, "/aaa/bbb") == "bbb");
  }

  TEST_CASE("ingress example: Prefix /aaa/bbb/ matches /aaa/bbb, ignoring the trailing slash") {
    auto t = buildTable({prefix("bbb/", "/aaa/bbb/")});
    CHECK(on(t, "/aaa/bbb") == "bbb/");
  }

  TEST_CASE("ingress example: Prefix /aaa/bbb matches /aaa/bbb/, matching the trailing slash") {
    auto t = buildTable({prefix("bbb", "/aaa/bbb")});
    CHECK(on(t, "/aaa/bbb/") == "bbb");
  }

  TEST_CASE("ingress example: Prefix /aaa/bbb matches the subpath /aaa/bbb/ccc") {
    auto t = buildTable({prefix("bbb", "/aaa/bbb")});
    CHECK(on(t, "/aaa/bbb/ccc") == "bbb");
  }

  TEST_CASE("ingress example: Prefix /aaa/bbb does not match the string prefix /aaa/bbbxyz") {
    auto t = buildTable({prefix("bbb", "/aaa/bbb")});
    CHECK(on(t, "/aaa/bbbxyz") == "<none>");
  }

  TEST_CASE("ingress example: Prefixes / and /aaa with /aaa/ccc match /aaa") {
    auto t = buildTable({prefix("root", "/"), prefix("aaa", "/aaa")});
    CHECK(on(t, "/aaa/ccc") == "aaa");
  }

  TEST_CASE("ingress example: Prefixes /, /aaa and /aaa/bbb with /aaa/bbb match /aaa/bbb") {
    auto t = buildTable({prefix("root", "/"), prefix("aaa", "/aaa"), prefix("bbb", "/aaa/bbb")});
    CHECK(on(t, "/aaa/bbb") == "bbb");
  }

  TEST_CASE("ingress example: Prefixes /, /aaa and /aaa/bbb with /ccc match /") {
    auto t = buildTable({prefix("root", "/"), prefix("aaa", "/aaa"), prefix("bbb", "/aaa/bbb")});
    CHECK(on(t, "/ccc") == "root");
  }

  TEST_CASE("ingress example: Prefix /aaa with /ccc matches nothing") {
    auto t = buildTable({prefix("aaa", "/aaa")});
    CHECK(on(t, "/ccc") == "<none>");
  }

  TEST_CASE("ingress example: Prefix /foo and Exact /foo with /foo prefer Exact") {
    auto t = buildTable({prefix("prefix", "/foo"), exact("exact", "/foo")});
    CHECK(on(t, "/foo") == "exact");
    CHECK(on(t, "/foo/") == "prefix");
  }

  TEST_CASE("prefix /foo matches /foo/bar but not /foobar") {
    auto t = buildTable({prefix("foo", "/foo")});
    CHECK(on(t, "/foo/bar") == "foo");
    CHECK(on(t, "/foobar") == "<none>");
  }

  TEST_CASE("the longest prefix wins regardless of creation order") {
    auto t = buildTable(
        {prefix("deep", "/a/b/c"), prefix("root", "/"), prefix("a", "/a"), prefix("ab", "/a/b")});
    CHECK(on(t, "/a/b/c/d") == "deep");
    CHECK(on(t, "/a/b/x") == "ab");
    CHECK(on(t, "/a/x/c") == "a");
    CHECK(on(t, "/x") == "root");
  }

  TEST_CASE("a deeper prefix whose conditions fail falls back to a shorter prefix") {
    auto t = buildTable({prefix("root", "/"), withMethods(prefix("api-post", "/api"), {"POST"})});
    CHECK(matchedName(*t, FakeRequest("example.com", "/api/x", "POST")) == "api-post");
    CHECK(matchedName(*t, FakeRequest("example.com", "/api/x", "GET")) == "root");
  }

  TEST_CASE("spec paths are normalized like request paths") {
    auto t = buildTable({exact("exact", "/a/./b/../c"), prefix("prefix", "//x//%79")});
    CHECK(on(t, "/a/c") == "exact");
    CHECK(on(t, "/x/y/z") == "prefix");
  }

  TEST_CASE("prefix segments are compared with an encoded slash kept inside the segment") {
    auto t = buildTable({prefix("admin", "/admin"), prefix("root", "/")});
    CHECK(on(t, "/admin%2F..") == "root");
    CHECK(on(t, "/admin/x") == "admin");
  }

  TEST_CASE("a regular expression must match the whole path") {
    auto t = buildTable({regex("versioned", "/api/v[0-9]+")});
    CHECK(on(t, "/api/v12") == "versioned");
    CHECK(on(t, "/api/v1/x") == "<none>");
    CHECK(on(t, "/x/api/v1") == "<none>");
  }

  TEST_CASE("exact beats regular expression which beats prefix") {
    auto t = buildTable(
        {prefix("prefix", "/users"), regex("regex", "/users/[0-9]+"), exact("exact", "/users/42")});
    CHECK(on(t, "/users/42") == "exact");
    CHECK(on(t, "/users/7") == "regex");
    CHECK(on(t, "/users/bob") == "prefix");
  }

  TEST_CASE("a regular expression beats even a longer prefix") {
    auto t = buildTable({prefix("long", "/a/b/c/d"), regex("regex", "/a/.*")});
    CHECK(on(t, "/a/b/c/d/e") == "regex");
  }

  TEST_CASE("regular expressions are tried in creation order") {
    auto t = buildTable({regex("first", "/items/.*"), regex("second", "/items/[0-9]+")});
    CHECK(on(t, "/items/1") == "first");
    auto reversed = buildTable({regex("second", "/items/[0-9]+"), regex("first", "/items/.*")});
    CHECK(on(reversed, "/items/1") == "second");
  }

  TEST_CASE("routes with the same regular expression use the tie-break rules") {
    auto t = buildTable({regex("plain", "/r/.*"), regex("other", "/s/.*"),
                         withMethods(regex("get", "/r/.*"), {"GET"})});
    CHECK(on(t, "/r/1") == "get");
    CHECK(matchedName(*t, FakeRequest("example.com", "/r/1", "POST")) == "plain");
  }

  TEST_CASE("a route with methods beats one without, even one with more headers") {
    auto t =
        buildTable({withHeader(withHeader(prefix("headers", "/api"), "a", HeaderMatchType::Present),
                               "b", HeaderMatchType::Present),
                    withMethods(prefix("methods", "/api"), {"GET"})});
    auto request = FakeRequest("example.com", "/api").withHeader("a", "1").withHeader("b", "2");
    CHECK(matchedName(*t, request) == "methods");
    request.withMethod("DELETE");
    CHECK(matchedName(*t, request) == "headers");
  }

  TEST_CASE("more header matches beat fewer, even with more query matches") {
    auto t = buildTable({withQuery(withQuery(exact("query", "/x"), "a", "1"), "b", "2"),
                         withHeader(exact("header", "/x"), "X-H", HeaderMatchType::Present)});
    auto request = FakeRequest("example.com", "/x").withHeader("x-h", "v").withQuery("a=1&b=2");
    CHECK(matchedName(*t, request) == "header");
  }

  TEST_CASE("more query matches beat fewer") {
    auto t = buildTable({withQuery(prefix("one", "/p"), "a", "1"),
                         withQuery(withQuery(prefix("two", "/p"), "a", "1"), "b", "2")});
    CHECK(matchedName(*t, FakeRequest("example.com", "/p").withQuery("a=1&b=2")) == "two");
    CHECK(matchedName(*t, FakeRequest("example.com", "/p").withQuery("a=1")) == "one");
    CHECK(matchedName(*t, FakeRequest("example.com", "/p")) == "<none>");
  }

  TEST_CASE("creation order breaks remaining ties") {
    auto t = buildTable(
        {withMethods(exact("first", "/x"), {"GET"}), withMethods(exact("second", "/x"), {"GET"})});
    CHECK(on(t, "/x") == "first");
    auto p = buildTable({prefix("first", "/p/"), prefix("second", "/p")});
    CHECK(on(p, "/p/q") == "first");
  }

  TEST_CASE("methods match any listed one, case-sensitively") {
    auto t = buildTable({withMethods(prefix("read", "/"), {"GET", "HEAD"})});
    CHECK(matchedName(*t, FakeRequest("example.com", "/", "GET")) == "read");
    CHECK(matchedName(*t, FakeRequest("example.com", "/", "HEAD")) == "read");
    CHECK(matchedName(*t, FakeRequest("example.com", "/", "POST")) == "<none>");
    CHECK(matchedName(*t, FakeRequest("example.com", "/", "get")) == "<none>");
  }

  TEST_CASE("an exact header match compares the value byte for byte and the name in any case") {
    auto t =
        buildTable({withHeader(prefix("canary", "/"), "X-Canary", HeaderMatchType::Exact, "yes")});
    CHECK(matchedName(*t, FakeRequest("example.com", "/").withHeader("x-canary", "yes")) ==
          "canary");
    CHECK(matchedName(*t, FakeRequest("example.com", "/").withHeader("X-CANARY", "yes")) ==
          "canary");
    CHECK(matchedName(*t, FakeRequest("example.com", "/").withHeader("x-canary", "Yes")) ==
          "<none>");
    CHECK(matchedName(*t, FakeRequest("example.com", "/").withHeader("x-canary", "yes ")) ==
          "<none>");
    CHECK(matchedName(*t, FakeRequest("example.com", "/")) == "<none>");
  }

  TEST_CASE("a regular expression header match must match the whole value") {
    auto t = buildTable({withHeader(prefix("v2", "/"), "X-Version",
                                    HeaderMatchType::RegularExpression, "2\\.[0-9]+")});
    CHECK(matchedName(*t, FakeRequest("example.com", "/").withHeader("x-version", "2.10")) == "v2");
    CHECK(matchedName(*t, FakeRequest("example.com", "/").withHeader("x-version", "2.1-beta")) ==
          "<none>");
    CHECK(matchedName(*t, FakeRequest("example.com", "/").withHeader("x-version", "12.1")) ==
          "<none>");
    CHECK(matchedName(*t, FakeRequest("example.com", "/")) == "<none>");
  }

  TEST_CASE("a present header match accepts any value, even an empty one") {
    auto t = buildTable({withHeader(prefix("debug", "/"), "X-Debug", HeaderMatchType::Present)});
    CHECK(matchedName(*t, FakeRequest("example.com", "/").withHeader("x-debug", "")) == "debug");
    CHECK(matchedName(*t, FakeRequest("example.com", "/").withHeader("x-debug", "1")) == "debug");
    CHECK(matchedName(*t, FakeRequest("example.com", "/").withHeader("x-other", "1")) == "<none>");
  }

  TEST_CASE("every header match of a route must hold") {
    auto t =
        buildTable({withHeader(withHeader(prefix("both", "/"), "a", HeaderMatchType::Exact, "1"),
                               "b", HeaderMatchType::Exact, "2")});
    CHECK(matchedName(*t,
                      FakeRequest("example.com", "/").withHeader("a", "1").withHeader("b", "2")) ==
          "both");
    CHECK(matchedName(*t, FakeRequest("example.com", "/").withHeader("a", "1")) == "<none>");
  }

  TEST_CASE("a query match compares the percent-decoded value of the first occurrence") {
    auto t = buildTable(
        {withQuery(prefix("v2", "/"), "v", "2"), withQuery(prefix("spaced", "/s"), "q", "a b")});
    CHECK(matchedName(*t, FakeRequest("example.com", "/").withQuery("v=2")) == "v2");
    CHECK(matchedName(*t, FakeRequest("example.com", "/").withQuery("x=1&v=%32")) == "v2");
    CHECK(matchedName(*t, FakeRequest("example.com", "/").withQuery("v=2&v=3")) == "v2");
    CHECK(matchedName(*t, FakeRequest("example.com", "/").withQuery("v=3&v=2")) == "<none>");
    CHECK(matchedName(*t, FakeRequest("example.com", "/").withQuery("vv=2")) == "<none>");
    CHECK(matchedName(*t, FakeRequest("example.com", "/").withQuery("V=2")) == "<none>");
    CHECK(matchedName(*t, FakeRequest("example.com", "/s").withQuery("q=a+b")) == "spaced");
    CHECK(matchedName(*t, FakeRequest("example.com", "/s").withQuery("q=a%20b")) == "spaced");
    CHECK(matchedName(*t, FakeRequest("example.com", "/s").withQuery("q=a%2Bb")) == "<none>");
  }

  TEST_CASE("an exact host matches only that host, and spec hosts are case-insensitive") {
    auto t = buildTable({prefix("api", "/", {"API.Example.COM"})});
    CHECK(matchedName(*t, FakeRequest("api.example.com", "/")) == "api");
    CHECK(matchedName(*t, FakeRequest("www.example.com", "/")) == "<none>");
    CHECK(matchedName(*t, FakeRequest("example.com", "/")) == "<none>");
    CHECK(t->routes()[0].spec.hosts[0] == "api.example.com");
  }

  TEST_CASE("a wildcard host matches exactly one extra label") {
    auto t = buildTable({prefix("wild", "/", {"*.Example.com"})});
    CHECK(matchedName(*t, FakeRequest("foo.example.com", "/")) == "wild");
    CHECK(matchedName(*t, FakeRequest("a.b.example.com", "/")) == "<none>");
    CHECK(matchedName(*t, FakeRequest("example.com", "/")) == "<none>");
    CHECK(matchedName(*t, FakeRequest(".example.com", "/")) == "<none>");
    CHECK(matchedName(*t, FakeRequest("fooexample.com", "/")) == "<none>");
  }

  TEST_CASE("an any-depth wildcard (Gateway API) covers several labels; the longest suffix wins") {
    auto anyDepth = [](RouteSpec spec) {
      spec.wildcardAnyDepth = true;
      return spec;
    };
    auto t = buildTable({anyDepth(prefix("deep-bar", "/", {"*.bar.com"})), prefix("one-label", "/", {"*.foo.com"}),
                         anyDepth(prefix("deep-x-bar", "/", {"*.x.bar.com"})),
                         prefix("one-label-bar", "/only", {"*.bar.com"})});
    CHECK(matchedName(*t, FakeRequest("a.bar.com", "/")) == "deep-bar");
    CHECK(matchedName(*t, FakeRequest("multiple.prefixes.bar.com", "/")) == "deep-bar");
    CHECK(matchedName(*t, FakeRequest("a.b.c.bar.com", "/")) == "deep-bar");
    CHECK(matchedName(*t, FakeRequest("a.x.bar.com", "/")) == "deep-x-bar");    // longer suffix first
    CHECK(matchedName(*t, FakeRequest("a.b.x.bar.com", "/")) == "deep-x-bar");
    CHECK(matchedName(*t, FakeRequest("bar.com", "/")) == "<none>");
    // A one-label route in the same bucket still covers one label only.
    CHECK(matchedName(*t, FakeRequest("a.bar.com", "/only")) == "one-label-bar");
    CHECK(matchedName(*t, FakeRequest("a.b.bar.com", "/only")) == "deep-bar");
    CHECK(matchedName(*t, FakeRequest("a.b.foo.com", "/")) == "<none>");
    CHECK(matchedName(*t, FakeRequest("a.foo.com", "/")) == "one-label");
  }

  TEST_CASE("local addresses keep Gateways apart: a route answers only on its own, others fall through") {
    auto on = [](RouteSpec spec, std::vector<std::string> addresses) {
      spec.localAddresses = std::move(addresses);
      return spec;
    };
    auto t = buildTable({on(prefix("gw-a-root", "/"), {"10.0.10.1"}), on(prefix("gw-b-root", "/"), {"10.0.10.2"}),
                         on(prefix("shared", "/shared"), {"10.0.10.1", "10.0.10.2"}), prefix("ingress", "/ing")});
    CHECK(matchedName(*t, FakeRequest("x", "/").withLocalAddress("10.0.10.1")) == "gw-a-root");
    CHECK(matchedName(*t, FakeRequest("x", "/").withLocalAddress("10.0.10.2")) == "gw-b-root");
    CHECK(matchedName(*t, FakeRequest("x", "/").withLocalAddress("10.0.10.3")) == "<none>");
    CHECK(matchedName(*t, FakeRequest("x", "/shared/x").withLocalAddress("10.0.10.2")) == "shared");
    CHECK(matchedName(*t, FakeRequest("x", "/shared/x").withLocalAddress("10.0.10.9")) == "<none>");
    CHECK(matchedName(*t, FakeRequest("x", "/ing").withLocalAddress("10.0.10.9")) == "ingress");  // no restriction
    CHECK(matchedName(*t, FakeRequest("x", "/ing").withLocalAddress("10.0.10.1")) == "ingress");
  }

  TEST_CASE("a route without hosts matches every host") {
    auto t = buildTable({prefix("any", "/")});
    CHECK(matchedName(*t, FakeRequest("example.com", "/")) == "any");
    CHECK(matchedName(*t, FakeRequest("x.y.z", "/")) == "any");
    CHECK(matchedName(*t, FakeRequest("", "/")) == "any");
  }

  TEST_CASE("a route with several hosts matches each of them") {
    auto t = buildTable({prefix("multi", "/", {"a.com", "*.b.com", "a.com"})});
    CHECK(matchedName(*t, FakeRequest("a.com", "/")) == "multi");
    CHECK(matchedName(*t, FakeRequest("x.b.com", "/")) == "multi");
    CHECK(matchedName(*t, FakeRequest("c.com", "/")) == "<none>");
  }

  TEST_CASE("the most specific host wins over a more specific path on a broader host") {
    auto t = buildTable({exact("catch-all-exact", "/foo"),
                         regex("wild-regex", "/foo", {"*.example.com"}),
                         prefix("exact-host-root", "/", {"api.example.com"})});
    CHECK(matchedName(*t, FakeRequest("api.example.com", "/foo")) == "exact-host-root");
    CHECK(matchedName(*t, FakeRequest("www.example.com", "/foo")) == "wild-regex");
    CHECK(matchedName(*t, FakeRequest("other.org", "/foo")) == "catch-all-exact");
  }

  TEST_CASE("an unmatched exact host falls through to the wildcard, then to the catch-all") {
    auto t = buildTable({prefix("exact-host", "/api", {"api.example.com"}),
                         prefix("wild-host", "/web", {"*.example.com"}), prefix("catch-all", "/")});
    CHECK(matchedName(*t, FakeRequest("api.example.com", "/api/x")) == "exact-host");
    CHECK(matchedName(*t, FakeRequest("api.example.com", "/web/x")) == "wild-host");
    CHECK(matchedName(*t, FakeRequest("api.example.com", "/other")) == "catch-all");
    CHECK(matchedName(*t, FakeRequest("www.example.com", "/api/x")) == "catch-all");
  }

  TEST_CASE("a host whose conditions fail falls through to the next host bucket") {
    auto t = buildTable({withMethods(prefix("exact-post", "/", {"api.example.com"}), {"POST"}),
                         prefix("wild", "/", {"*.example.com"})});
    CHECK(matchedName(*t, FakeRequest("api.example.com", "/", "POST")) == "exact-post");
    CHECK(matchedName(*t, FakeRequest("api.example.com", "/", "GET")) == "wild");
  }

  TEST_CASE("a star host is a catch-all") {
    auto t = buildTable({prefix("star", "/", {"*"})});
    CHECK(matchedName(*t, FakeRequest("anything.example", "/")) == "star");
  }

  TEST_CASE("an empty table builds and matches nothing") {
    auto built = RouteTable::build(RouteTableSpec{}, 7);
    REQUIRE(built);
    const RouteTable& table = **built;
    CHECK(table.version() == 7);
    CHECK(table.routes().empty());
    CHECK(table.match(FakeRequest("example.com", "/")) == nullptr);
    CHECK_FALSE(table.redirectsToHttps("example.com"));
  }

  TEST_CASE("match returns the route in routes() with its index") {
    auto t = buildTable({prefix("a", "/a"), prefix("b", "/b")});
    const Route* found = t->match(FakeRequest("example.com", "/b"));
    REQUIRE(found != nullptr);
    CHECK(found == &t->routes()[1]);
    CHECK(found->index == 1);
    CHECK(found->spec.name == "b");
  }
}
