// resolve(): a table swap keeps the runtime objects of unchanged routes, leaves new and
// changed routes to be built on their first request (routeRuntime()) and lets go of
// removed ones. Run under ASan too: the kept
// objects point into spec objects of tables that are gone by then.
#include <doctest/doctest.h>

#include <algorithm>

#include "proxy/server/table_runtime.h"
#include "proxy/server/tls.h"

using namespace portico;
using namespace portico::proxy;

namespace {

RouteSpec route(std::string name, std::vector<std::string> endpoints) {
  RouteSpec r;
  r.name = std::move(name);
  r.path = "/" + r.name;
  BackendSpec backend{"ns/" + r.name + ":80", 1, std::nullopt, {}};
  for (auto& host : endpoints) backend.endpoints.push_back({std::move(host), 80, 1});
  r.backends.push_back(std::move(backend));
  r.auth.apiKey = ApiKeyAuthSpec{"X-Key", "", {{"alice", "secret-" + r.name}}};
  r.rewritePathRegex = RegexRewriteSpec{"^/x/(.*)$", "/\\1"};
  return r;
}

// What one worker and its process hold.
struct Fixture {
  RouteTableConstSharedPtr publish(std::vector<RouteSpec> routes, bool fromPrevious = true) {
    RouteTableSpec spec;
    spec.routes = std::move(routes);
    auto built = RouteTable::build(std::move(spec), ++version, fromPrevious ? table.get() : nullptr);
    REQUIRE(built);
    table = *built;
    return table;
  }
  // `useAll`: then every route gets a request, as on a busy worker.
  ResolvedTable resolveNewest(bool useAll = true) {
    ResolvedTable resolved = resolve(*table, runtime.get(), deps);
    runtime = resolved.runtime;
    if (useAll)
      for (const Route& r : table->routes()) routeRuntime(*runtime, r, deps);
    return resolved;
  }
  // As a request reaches it: built on first use.
  const RouteRuntime& runtimeOf(const std::string& name) {
    for (const Route& r : table->routes())
      if (r.spec.name == name) return routeRuntime(*runtime, r, deps);
    FAIL("no route " << name);
    throw 0;
  }
  std::string pickHost(const std::string& name) {
    const RouteRuntime& r = runtimeOf(name);
    PickRequest request;
    request.now = nowNanos();
    const Pick pick = r.balancer->pick(request, *r.cursors, random);
    REQUIRE(pick);
    return pick.endpoint->host;
  }

  Metrics metrics;
  UpstreamRegistry upstreams;
  policy::GatewayRuntime gateway{policy::GatewayOptions{}, [](const std::string&, const UpstreamTlsSpec*, std::chrono::milliseconds) {
                                   return Expected<std::string>(makeError("no fetches here"));
                                 }};
  policy::PolicyCompiler compiler{gateway};
  BalancerCursorStore cursors;
  RouteRuntimeStore store;
  RuntimeDeps deps{compiler, metrics, upstreams, cursors, store};
  std::mt19937_64 random{7};
  uint64_t version = 0;
  RouteTableConstSharedPtr table;
  TableRuntimePtr runtime;
};

}  // namespace

TEST_SUITE("runtime") {
  TEST_CASE("a route's runtime is built on its first request, once") {
    Fixture f;
    f.publish({route("a", {"10.0.0.1"}), route("b", {"10.0.0.2"})});
    const ResolvedTable resolved = f.resolveNewest(false);
    CHECK(resolved.changed == 2);
    CHECK(resolved.kept == 0);
    REQUIRE(f.runtime->routes.size() == 2);
    for (const RouteRuntime& r : f.runtime->routes) {
      CHECK(r.balancer == nullptr);  // nothing built for a route no request reached
      CHECK(r.policies != nullptr);  // compiled per table, for every worker at once
    }
    CHECK(f.store.endpointAddresses() == 0);
    const RouteRuntime& a = f.runtimeOf("a");
    CHECK(a.balancer != nullptr);
    CHECK(a.stats != nullptr);
    CHECK(a.cursors != nullptr);
    CHECK(a.upstream != nullptr);
    CHECK(&f.runtimeOf("a") == &a);
    CHECK(f.runtimeOf("a").balancer == a.balancer);
    CHECK(f.runtime->routes[1].balancer == nullptr);
    CHECK(f.store.endpointAddresses() == 1);
    CHECK(f.pickHost("b") == "10.0.0.2");
    CHECK(f.store.endpointAddresses() == 2);
  }

  TEST_CASE("a route no request reached stays unbuilt across swaps, and leaves nothing to release") {
    Fixture f;
    f.publish({route("a", {"10.0.0.1"}), route("b", {"10.0.0.2"})});
    f.resolveNewest(false);
    CHECK(f.pickHost("a") == "10.0.0.1");
    f.publish({route("a", {"10.0.0.1"}), route("b", {"10.0.0.2"}), route("c", {"10.0.0.3"})});
    ResolvedTable resolved = f.resolveNewest(false);
    CHECK(resolved.kept == 1);     // a's objects
    CHECK(resolved.changed == 2);  // b (never built) and c (new)
    CHECK(f.runtime->routes[0].balancer != nullptr);
    CHECK(f.runtime->routes[1].balancer == nullptr);
    // Only built entries name a spec: an unbuilt one's may be freed with its table.
    CHECK(f.runtime->specs[0] == &f.table->routes()[0].spec);
    CHECK(f.runtime->specs[1] == nullptr);
    f.publish({route("a", {"10.0.0.1"})});
    resolved = f.resolveNewest(false);
    CHECK(resolved.dropped == 0);  // b and c were never built
    CHECK(resolved.unusedEndpoints.empty());
    f.publish({});
    resolved = f.resolveNewest(false);
    CHECK(resolved.dropped == 1);
    CHECK(resolved.unusedEndpoints == std::vector<std::string>{"10.0.0.1:80"});
  }

  TEST_CASE("a worker idle across two publishes, with nothing built yet, keeps nothing and builds on use") {
    Fixture f;
    f.publish({route("a", {"10.0.0.1"}), route("b", {"10.0.0.2"})});
    f.resolveNewest(false);
    f.publish({route("a", {"10.0.0.1"}), route("b", {"10.0.0.3"})});
    f.compiler.forTable(*f.table);  // another worker took this one
    f.publish({route("c", {"10.0.0.4"}), route("a", {"10.0.0.1"}), route("b", {"10.0.0.3"})});
    const ResolvedTable resolved = f.resolveNewest(false);
    CHECK(resolved.kept == 0);
    CHECK(resolved.changed == 3);
    CHECK(resolved.dropped == 0);
    CHECK(f.pickHost("b") == "10.0.0.3");
    CHECK(f.pickHost("c") == "10.0.0.4");
  }

  TEST_CASE("a route changed while in use is rebuilt at the swap; its endpoints stay counted") {
    Fixture f;
    f.publish({route("a", {"10.0.0.1", "10.0.0.2"}), route("b", {"10.0.0.3"})});
    f.resolveNewest(false);
    CHECK(f.pickHost("b") == "10.0.0.3");  // a never gets a request
    // Both change; b keeps one of its endpoints.
    f.publish({route("a", {"10.0.0.1"}), route("b", {"10.0.0.3", "10.0.0.4"})});
    const ResolvedTable resolved = f.resolveNewest(false);
    CHECK(resolved.changed == 2);
    CHECK(resolved.dropped == 1);
    CHECK(resolved.unusedEndpoints.empty());  // 10.0.0.3's pooled connections stay
    CHECK(f.runtime->routes[1].balancer != nullptr);  // b: built with the swap
    CHECK(f.runtime->routes[0].balancer == nullptr);  // a: still waits for a request
    CHECK(f.store.endpointAddresses() == 2);
  }

  TEST_CASE("unchanged routes keep their balancer and policies objects; a changed route gets new ones") {
    Fixture f;
    f.publish({route("a", {"10.0.0.1"}), route("b", {"10.0.0.2"}), route("c", {"10.0.0.3"})});
    f.resolveNewest();
    const RouteRuntime a1 = f.runtimeOf("a");
    const RouteRuntime b1 = f.runtimeOf("b");
    CHECK(f.pickHost("b") == "10.0.0.2");

    // b's endpoints move; a route is inserted before the others, so every index shifts.
    f.publish({route("new", {"10.0.0.9"}), route("a", {"10.0.0.1"}), route("b", {"10.0.0.4"}),
               route("c", {"10.0.0.3"})});
    const ResolvedTable resolved = f.resolveNewest();
    CHECK(resolved.kept == 2);
    CHECK(resolved.changed == 2);
    const RouteRuntime& a2 = f.runtimeOf("a");
    CHECK(a2.balancer == a1.balancer);
    CHECK(a2.policies == a1.policies);
    CHECK(a2.upstream == a1.upstream);
    CHECK(a2.stats == a1.stats);
    CHECK(a2.cursors == a1.cursors);
    const RouteRuntime& b2 = f.runtimeOf("b");
    CHECK(b2.balancer != b1.balancer);
    CHECK(b2.policies != b1.policies);
    CHECK(f.pickHost("b") == "10.0.0.4");  // the change is live
    // What is kept by name across any change stays: counters, cursors, retry budget.
    CHECK(b2.stats == b1.stats);
    CHECK(b2.cursors == b1.cursors);
    CHECK(b2.upstream == b1.upstream);
    CHECK(resolved.unusedEndpoints == std::vector<std::string>{"10.0.0.2:80"});
  }

  TEST_CASE("removed and replaced routes' objects are released with the last runtime that holds them") {
    Fixture f;
    f.publish({route("a", {"10.0.0.1"}), route("b", {"10.0.0.2"}), route("c", {"10.0.0.3"})});
    f.resolveNewest();
    // A route's objects hold its spec: the spec goes when they go and its tables are gone.
    std::weak_ptr<const RouteSpec> removed = f.table->routes()[2].sharedSpec();
    std::weak_ptr<const RouteSpec> replaced = f.table->routes()[1].sharedSpec();
    std::weak_ptr<const RouteSpec> kept = f.table->routes()[0].sharedSpec();
    TableRuntimeConstSharedPtr pinned = f.runtime;  // a request still running on the old table

    f.publish({route("a", {"10.0.0.1"}), route("b", {"10.0.0.5"})});
    const ResolvedTable resolved = f.resolveNewest();
    CHECK(resolved.dropped == 2);
    CHECK(f.store.retiredRoutes() == 2);
    CHECK_FALSE(removed.expired());  // the request's runtime still names them
    CHECK(pinned->routes[2].balancer->endpointStates(0).front()->address == "10.0.0.3:80");
    pinned.reset();
    f.publish({route("a", {"10.0.0.1"}), route("b", {"10.0.0.5"})});
    f.resolveNewest();  // frees what no live runtime names
    CHECK(f.store.retiredRoutes() == 0);
    CHECK(removed.expired());
    CHECK(replaced.expired());
    CHECK_FALSE(kept.expired());
    auto unused = resolved.unusedEndpoints;
    std::sort(unused.begin(), unused.end());
    CHECK(unused == std::vector<std::string>{"10.0.0.2:80", "10.0.0.3:80"});
  }

  TEST_CASE("objects retired while an older runtime is pinned wait for that one too") {
    Fixture f;
    f.publish({route("a", {"10.0.0.1"}), route("b", {"10.0.0.2"})});
    f.resolveNewest();
    TableRuntimeConstSharedPtr oldest = f.runtime;  // names b's first objects
    f.publish({route("a", {"10.0.0.1"}), route("b", {"10.0.0.2"}), route("c", {"10.0.0.3"})});
    f.resolveNewest();  // keeps b
    f.publish({route("a", {"10.0.0.1"})});
    f.resolveNewest();  // b leaves; the runtime before is gone, the oldest is not
    f.publish({route("a", {"10.0.0.1"})});
    f.resolveNewest();
    CHECK(f.store.retiredRoutes() == 2);  // b and c wait for the oldest runtime
    CHECK(oldest->routes[1].balancer->endpointStates(0).front()->address == "10.0.0.2:80");
    oldest.reset();
    f.publish({route("a", {"10.0.0.1"})});
    f.resolveNewest();
    CHECK(f.store.retiredRoutes() == 0);
  }

  TEST_CASE("an endpoint still named by another route is not reported unused") {
    Fixture f;
    f.publish({route("a", {"10.0.0.1", "10.0.0.2"}), route("b", {"10.0.0.2"})});
    f.resolveNewest();
    f.publish({route("a", {"10.0.0.1"})});
    CHECK(f.resolveNewest().unusedEndpoints == std::vector<std::string>{"10.0.0.2:80"});
    f.publish({route("a", {"10.0.0.1"}), route("b", {"10.0.0.1"})});
    CHECK(f.resolveNewest().unusedEndpoints.empty());
    CHECK(f.store.endpointAddresses() == 1);
  }

  TEST_CASE("kept objects stay valid after every table they came from is gone") {
    Fixture f;
    f.publish({route("a", {"10.0.0.1", "10.0.0.2"}), route("b", {"10.0.0.3"})});
    f.resolveNewest();
    const RouteBalancer* kept = f.runtimeOf("a").balancer;
    const policy::RoutePolicies* keptPolicies = f.runtimeOf("a").policies;
    // Three more versions; b changes each time, a never does.
    for (int i = 4; i < 7; ++i) {
      f.publish({route("a", {"10.0.0.1", "10.0.0.2"}), route("b", {"10.0.0." + std::to_string(i)})});
      f.resolveNewest();
    }
    // Only the newest table and runtime are held now; a's objects came from the first.
    CHECK(f.runtimeOf("a").balancer == kept);
    CHECK(f.runtimeOf("a").policies == keptPolicies);
    const std::string host = f.pickHost("a");  // reads the spec through the kept balancer
    CHECK((host == "10.0.0.1" || host == "10.0.0.2"));
    CHECK(keptPolicies->regexRewrite("/x/y") == "/y");  // reads the spec through the policies
    CHECK(f.pickHost("b") == "10.0.0.6");
  }

  TEST_CASE("a worker that skipped versions keeps what is unchanged since its own table") {
    Fixture f;
    f.publish({route("a", {"10.0.0.1"}), route("b", {"10.0.0.2"}), route("c", {"10.0.0.3"})});
    f.resolveNewest();
    const RouteBalancer* a1 = f.runtimeOf("a").balancer;
    const RouteBalancer* c1 = f.runtimeOf("c").balancer;
    f.publish({route("a", {"10.0.0.1"}), route("b", {"10.0.0.4"}), route("c", {"10.0.0.3"})});
    f.compiler.forTable(*f.table);  // another worker took this one
    f.publish({route("c", {"10.0.0.3"}), route("a", {"10.0.0.1"}), route("b", {"10.0.0.4"})});
    const ResolvedTable resolved = f.resolveNewest();
    CHECK(resolved.kept == 2);
    CHECK(resolved.changed == 1);
    CHECK(f.runtimeOf("a").balancer == a1);
    CHECK(f.runtimeOf("c").balancer == c1);
    CHECK(f.pickHost("b") == "10.0.0.4");
    CHECK(resolved.unusedEndpoints == std::vector<std::string>{"10.0.0.2:80"});
  }

  TEST_CASE("a table built without the previous one rebuilds everything") {
    Fixture f;
    f.publish({route("a", {"10.0.0.1"})});
    f.resolveNewest();
    const RouteBalancer* a1 = f.runtimeOf("a").balancer;
    f.publish({route("a", {"10.0.0.1"})}, false);
    const ResolvedTable resolved = f.resolveNewest();
    CHECK(resolved.changed == 1);
    CHECK(resolved.dropped == 1);
    CHECK(f.runtimeOf("a").balancer != a1);
    CHECK(resolved.unusedEndpoints.empty());
  }

  TEST_CASE("policies that fail to compile answer 503 (null) and are retried with the next table") {
    Fixture f;
    RouteSpec bad = route("bad", {"10.0.0.1"});
    bad.rewritePathRegex = RegexRewriteSpec{"(", ""};
    f.publish({bad, route("a", {"10.0.0.2"})});
    f.resolveNewest();
    CHECK(f.runtimeOf("bad").policies == nullptr);
    CHECK(f.runtimeOf("a").policies != nullptr);
    f.publish({bad, route("a", {"10.0.0.2"})});
    const ResolvedTable resolved = f.resolveNewest();
    CHECK(resolved.kept == 2);  // the balancer is kept; the policies stay null
    CHECK(f.runtimeOf("bad").policies == nullptr);
  }

  TEST_CASE("the compiler compiles only new and changed routes") {
    Fixture f;
    f.publish({route("a", {"10.0.0.1"}), route("b", {"10.0.0.2"})});
    auto p1 = f.compiler.forTable(*f.table);
    CHECK(f.compiler.forTable(*f.table) == p1);  // once per version
    f.publish({route("a", {"10.0.0.1"}), route("b", {"10.0.0.3"})});
    auto p2 = f.compiler.forTable(*f.table);
    CHECK(p2->routes[0] == p1->routes[0]);
    CHECK(p2->routes[1] != p1->routes[1]);
    CHECK(p2->routes[1]->regexRewrite("/x/z") == "/z");
  }

  TEST_CASE("the compiler serves a table older than the newest it compiled, for as long as it is used") {
    Fixture f;
    f.publish({route("a", {"10.0.0.1"}), route("b", {"10.0.0.2"})});
    auto p1 = f.compiler.forTable(*f.table);
    RouteTableConstSharedPtr v2 = f.publish({route("a", {"10.0.0.1"}), route("b", {"10.0.0.3"})});
    RouteTableConstSharedPtr v3 = f.publish({route("a", {"10.0.0.1"}), route("c", {"10.0.0.4"})});
    auto p3 = f.compiler.forTable(*v3);  // one worker is on the newest table already
    auto p2 = f.compiler.forTable(*v2);  // another read v2 just before v3 came
    REQUIRE(p2->version == 2);
    CHECK(p2->routes[0] == p3->routes[0]);  // a is shared
    CHECK(p2->routes[1] != p1->routes[1]);  // b as of v2
    f.publish({route("d", {"10.0.0.5"})});
    f.compiler.forTable(*f.table);
    f.publish({route("d", {"10.0.0.5"})});
    f.compiler.forTable(*f.table);
    // v2's list is still held: its objects, shared or its own, are alive (ASan checks).
    CHECK(p2->routes[0]->regexRewrite("/x/a") == "/a");
    CHECK(p2->routes[1]->regexRewrite("/x/b") == "/b");
  }

  TEST_CASE("TLS contexts: an unchanged certificate list gives the same store without a rebuild") {
    Fixture f;
    TlsContexts tls{std::chrono::hours(12)};
    f.publish({route("a", {"10.0.0.1"})});
    auto store1 = tls.forTable(*f.table);
    f.publish({route("a", {"10.0.0.2"})});
    CHECK(tls.forTable(*f.table) == store1);
  }
}
