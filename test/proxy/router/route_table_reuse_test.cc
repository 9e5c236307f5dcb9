// RouteTable::build from a previous table: unchanged routes keep their spec object (what
// lets the proxy keep their runtime), anything else gets a new one.
#include <doctest/doctest.h>

#include "proxy/config/route_table.h"
#include "proxy/config/spec_reuse.h"

using namespace portico::proxy;

namespace {

RouteSpec route(std::string name, std::string path, std::string endpoint = "10.0.0.1") {
  RouteSpec r;
  r.name = std::move(name);
  r.path = std::move(path);
  r.backends.push_back({"ns/svc:80", 1, std::nullopt, {{std::move(endpoint), 80, 1}}});
  return r;
}

RouteTableConstSharedPtr build(std::vector<RouteSpec> routes, uint64_t version, const RouteTableConstSharedPtr& previous,
                               std::vector<CertificateSpec> certificates = {}) {
  RouteTableSpec spec;
  spec.routes = std::move(routes);
  spec.certificates = std::move(certificates);
  auto built = RouteTable::build(std::move(spec), version, previous.get());
  REQUIRE(built);
  return *built;
}

CertificateSpec certificate(std::string name) {
  return {std::move(name), {"a.example"}, "-----BEGIN CERTIFICATE-----\nC\n", "-----BEGIN PRIVATE KEY-----\nK\n", false};
}

}  // namespace

TEST_SUITE("router") {
  TEST_CASE("a table built from the previous one shares the spec objects of unchanged routes only") {
    auto v1 = build({route("ns/a/r", "/a"), route("ns/b/r", "/b"), route("ns/c/r", "/c")}, 1, nullptr);
    auto v2 = build({route("ns/a/r", "/a"), route("ns/b/r", "/b", "10.0.0.2"), route("ns/d/r", "/d")}, 2, v1);
    CHECK(v2->previousVersion() == 1);
    CHECK(&v2->routes()[0].spec == &v1->routes()[0].spec);
    CHECK(v2->routes()[0].previousIndex == 0);
    CHECK(&v2->routes()[1].spec != &v1->routes()[1].spec);  // its endpoint changed
    CHECK(v2->routes()[1].previousIndex == Route::kNoPrevious);
    CHECK(v2->routes()[1].spec.backends[0].endpoints[0].host == "10.0.0.2");
    CHECK(v2->routes()[2].previousIndex == Route::kNoPrevious);  // new
  }

  TEST_CASE("a shared spec keeps the objects it is given: the previous table's own, or new ones") {
    auto v1 = build({route("ns/a/r", "/a"), route("ns/b/r", "/b"), route("ns/c/r", "/c")}, 1, nullptr);
    SharedRouteTableSpec next;
    next.routes = {v1->routes()[0].sharedSpec(),        // the same object
                   shareRoute(route("ns/b/r", "/b")),     // an equal new object: the old one is kept
                   shareRoute(route("ns/c/r", "/c2"))};  // changed
    const RouteSpec* changed = next.routes[2].get();
    auto built = RouteTable::build(std::move(next), 2, v1.get());
    REQUIRE(built);
    const RouteTable& v2 = **built;
    CHECK(&v2.routes()[0].spec == &v1->routes()[0].spec);
    CHECK(v2.routes()[0].previousIndex == 0);
    CHECK(&v2.routes()[1].spec == &v1->routes()[1].spec);
    CHECK(v2.routes()[1].previousIndex == 1);
    CHECK(&v2.routes()[2].spec == changed);
    CHECK(v2.routes()[2].previousIndex == Route::kNoPrevious);
  }

  TEST_CASE("a reordered table still finds unchanged routes by name, and the index says where they were") {
    auto v1 = build({route("ns/a/r", "/a"), route("ns/b/r", "/b"), route("ns/c/r", "/c")}, 1, nullptr);
    auto v2 = build({route("ns/c/r", "/c"), route("ns/a/r", "/a")}, 2, v1);
    CHECK(&v2->routes()[0].spec == &v1->routes()[2].spec);
    CHECK(v2->routes()[0].previousIndex == 2);
    CHECK(&v2->routes()[1].spec == &v1->routes()[0].spec);
    CHECK(v2->routes()[1].previousIndex == 0);
  }

  TEST_CASE("hosts are compared lower case, as the table stores them") {
    RouteSpec upper = route("ns/a/r", "/a");
    upper.hosts = {"API.Example.com"};
    auto v1 = build({upper}, 1, nullptr);
    auto v2 = build({upper}, 2, v1);
    CHECK(&v2->routes()[0].spec == &v1->routes()[0].spec);
  }

  TEST_CASE("routes of one table never share a spec object, even with a duplicate name") {
    auto v1 = build({route("ns/a/r", "/a")}, 1, nullptr);
    auto v2 = build({route("ns/a/r", "/a"), route("ns/a/r", "/a")}, 2, v1);
    CHECK(&v2->routes()[0].spec == &v1->routes()[0].spec);
    CHECK(&v2->routes()[1].spec != &v1->routes()[0].spec);
    CHECK(v2->routes()[1].previousIndex == Route::kNoPrevious);
  }

  TEST_CASE("a spec kept from an old table outlives that table") {
    auto v1 = build({route("ns/a/r", "/a"), route("ns/b/r", "/b")}, 1, nullptr);
    auto v2 = build({route("ns/a/r", "/a")}, 2, v1);
    const RouteSpec* kept = &v1->routes()[0].spec;
    v1.reset();
    CHECK(&v2->routes()[0].spec == kept);
    CHECK(v2->routes()[0].spec.path == "/a");
  }

  TEST_CASE("the certificate list is shared while it does not change") {
    auto v1 = build({}, 1, nullptr, {certificate("ns/a")});
    auto v2 = build({route("ns/a/r", "/a")}, 2, v1, {certificate("ns/a")});
    CHECK(v2->sharedCertificates() == v1->sharedCertificates());
    auto v3 = build({}, 3, v2, {certificate("ns/b")});
    CHECK(v3->sharedCertificates() != v2->sharedCertificates());
    CHECK(v3->certificates().at(0).name == "ns/b");
  }

  TEST_CASE("SpecReuse follows previousIndex from the table built from, and matches by object across skipped versions") {
    auto v1 = build({route("ns/a/r", "/a"), route("ns/b/r", "/b"), route("ns/c/r", "/c")}, 1, nullptr);
    auto v2 = build({route("ns/a/r", "/a"), route("ns/b/r", "/b", "10.0.0.9"), route("ns/c/r", "/c")}, 2, v1);
    auto v3 = build({route("ns/c/r", "/c"), route("ns/a/r", "/a", "10.0.0.7"), route("ns/b/r", "/b", "10.0.0.9")}, 3, v2);
    auto specsOf = [](const RouteTable& t) {
      std::vector<const RouteSpec*> specs;
      for (const Route& r : t.routes()) specs.push_back(&r.spec);
      return specs;
    };
    const auto s1 = specsOf(*v1);
    const auto s2 = specsOf(*v2);
    SUBCASE("from the table v3 was built from") {
      SpecReuse reuse(2, s2, *v3);
      CHECK(reuse.find(v3->routes()[0]) == 2);                   // c, unchanged
      CHECK(reuse.find(v3->routes()[1]) == Route::kNoPrevious);  // a changed in v3
      CHECK(reuse.find(v3->routes()[2]) == 1);                   // b changed in v2, kept in v3
    }
    SUBCASE("from v1, as a worker idle since v1 would") {
      SpecReuse reuse(1, s1, *v3);
      CHECK(reuse.find(v3->routes()[0]) == 2);                   // c, unchanged since v1
      CHECK(reuse.find(v3->routes()[1]) == Route::kNoPrevious);
      CHECK(reuse.find(v3->routes()[2]) == Route::kNoPrevious);  // v1's b is not v3's b
    }
    SUBCASE("nothing before the first table") {
      const std::vector<const RouteSpec*> none;
      SpecReuse reuse(0, none, *v3);
      CHECK(reuse.find(v3->routes()[0]) == Route::kNoPrevious);
    }
  }
}
