// A table built from the previous one rebuilds only the host buckets of changed routes
// (proxy/router/route_index.h); it must match exactly like a table built from nothing.
#include <doctest/doctest.h>

#include <random>

#include "proxy/config/route_table.h"
#include "proxy/router/route_index.h"
#include "test/proxy/router/fake_request.h"

using namespace portico::proxy;
using portico::proxy::testing::FakeRequest;

namespace {

class Generator {
 public:
  explicit Generator(uint32_t seed) : rng_(seed) {}
  size_t pick(size_t n) { return std::uniform_int_distribution<size_t>(0, n - 1)(rng_); }
  template <class T>
  const T& oneOf(const std::vector<T>& values) {
    return values[pick(values.size())];
  }

  RouteSpec route() {
    static const std::vector<std::vector<std::string>> kHosts = {
        {"a.test"}, {"b.test"}, {"*.w.test"}, {}, {"a.test", "b.test"}, {"*"}, {"A.Test"}};
    static const std::vector<std::string> kPaths = {"/", "/a", "/a/b", "/b", "/a/"};
    static const std::vector<std::string> kRegexes = {"/a.*", "/[ab]/.*", "/c"};
    RouteSpec r;
    r.name = "r" + std::to_string(next_++);
    r.hosts = oneOf(kHosts);
    switch (pick(3)) {
      case 0:
        r.pathType = PathMatchType::Exact;
        r.path = oneOf(kPaths);
        break;
      case 1:
        r.pathType = PathMatchType::Prefix;
        r.path = oneOf(kPaths);
        break;
      default:
        r.pathType = PathMatchType::RegularExpression;
        r.path = oneOf(kRegexes);
    }
    if (pick(3) == 0) r.methods = {"POST"};
    if (pick(3) == 0) r.headers.push_back({"X-H", pick(2) ? HeaderMatchType::Exact : HeaderMatchType::RegularExpression, "1"});
    if (pick(4) == 0) r.query.push_back({"q", "1"});
    return r;
  }

 private:
  std::mt19937 rng_;
  int next_ = 0;
};

std::vector<FakeRequest> requests() {
  std::vector<FakeRequest> out;
  for (const char* host : {"a.test", "b.test", "x.w.test", "other.test"}) {
    for (const char* path : {"/", "/a", "/a/b", "/a/b/c", "/b", "/c"}) {
      for (const char* method : {"GET", "POST"}) {
        out.emplace_back(host, path, method);
        out.emplace_back(host, path, method).withHeader("x-h", "1").withQuery("q=1");
      }
    }
  }
  return out;
}

RouteTableConstSharedPtr build(const std::vector<RouteSpec>& routes, uint64_t version, const RouteTable* previous) {
  RouteTableSpec spec;
  spec.routes = routes;
  auto built = RouteTable::build(std::move(spec), version, previous);
  REQUIRE(built);
  return *built;
}

std::string matched(const RouteTable& table, const FakeRequest& request) {
  const Route* route = table.match(request);
  return route ? route->spec.name : "-";
}

}  // namespace

TEST_SUITE("router") {
  TEST_CASE("a table built from the previous one matches like a table built from nothing, over random edits") {
    const std::vector<FakeRequest> probes = requests();
    for (uint32_t seed = 1; seed <= 20; ++seed) {
      Generator gen(seed);
      std::vector<RouteSpec> routes;
      for (int i = 0; i < 12; ++i) routes.push_back(gen.route());
      RouteTableConstSharedPtr chained = build(routes, 1, nullptr);
      for (uint64_t step = 2; step < 80; ++step) {
        switch (gen.pick(6)) {
          case 0:  // insert
            routes.insert(routes.begin() + static_cast<ptrdiff_t>(gen.pick(routes.size() + 1)), gen.route());
            break;
          case 1:  // remove
            if (!routes.empty()) routes.erase(routes.begin() + static_cast<ptrdiff_t>(gen.pick(routes.size())));
            break;
          case 2:  // reorder (the index then starts from nothing)
            if (routes.size() > 1) std::swap(routes[gen.pick(routes.size())], routes[gen.pick(routes.size())]);
            break;
          case 3:  // nothing changed
            break;
          default: {  // edit in place, keeping the name
            if (routes.empty()) break;
            RouteSpec& r = routes[gen.pick(routes.size())];
            RouteSpec edited = gen.route();
            edited.name = r.name;
            r = std::move(edited);
          }
        }
        chained = build(routes, step, chained.get());
        const RouteTableConstSharedPtr fresh = build(routes, step, nullptr);
        for (const FakeRequest& request : probes) {
          CAPTURE(seed);
          CAPTURE(step);
          CAPTURE(request.host());
          CAPTURE(request.path());
          REQUIRE(matched(*chained, request) == matched(*fresh, request));
        }
      }
    }
  }

  TEST_CASE("an edited route recompiles itself and rebuilds only its old and new host buckets") {
    std::vector<RouteSpec> routes;
    for (int i = 0; i < 1000; ++i) {
      RouteSpec r;
      r.name = "r" + std::to_string(i);
      r.hosts = {"h" + std::to_string(i) + ".test"};
      r.path = "/p";
      routes.push_back(std::move(r));
    }
    const RouteTableConstSharedPtr v1 = build(routes, 1, nullptr);
    auto first = RouteIndex::build(v1->routes(), {});
    REQUIRE(first);
    CHECK((*first)->buildStats().compiled == 1000);
    CHECK((*first)->buildStats().bucketsBuilt == 1000);

    routes[10].hosts = {"h11.test"};  // moves to another route's host
    const RouteTableConstSharedPtr v2 = build(routes, 2, v1.get());
    auto second = RouteIndex::build(v2->routes(), {}, first->get(), &v1->routes());
    REQUIRE(second);
    CHECK((*second)->buildStats().compiled == 1);
    CHECK((*second)->buildStats().bucketsBuilt == 1);  // h11 (h10 is gone)
    CHECK((*second)->buildStats().bucketsShared == 998);
    CHECK((*second)->match(FakeRequest("h10.test", "/p")) == RouteIndex::kNoRoute);
    // Both routes on h11 with the same path: the older one (r10) wins.
    CHECK((*second)->match(FakeRequest("h11.test", "/p")) == 10);

    routes.erase(routes.begin());  // every later route moves down one position
    const RouteTableConstSharedPtr v3 = build(routes, 3, v2.get());
    auto third = RouteIndex::build(v3->routes(), {}, second->get(), &v2->routes());
    REQUIRE(third);
    CHECK((*third)->buildStats().compiled == 0);
    CHECK((*third)->buildStats().bucketsBuilt == 0);  // h0's bucket just goes away
    CHECK((*third)->buildStats().bucketsShared == 998);
    CHECK((*third)->match(FakeRequest("h0.test", "/p")) == RouteIndex::kNoRoute);
    CHECK((*third)->match(FakeRequest("h500.test", "/p")) == 499);
  }
}
