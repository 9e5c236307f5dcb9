#include "proxy/server/table_runtime.h"

#include "proxy/config/spec_reuse.h"

namespace portico::proxy {

// What one worker builds for one spec object, kept by every table version that keeps the
// spec.
struct RouteRuntimeStore::Parts {
  Parts(RouteSpecConstSharedPtr s, UpstreamRegistry& upstreams)
      : spec(std::move(s)), balancer(*spec, upstreams), upstream(upstreams.route(spec->name)) {}
  RouteSpecConstSharedPtr spec;  // first: the balancer points into it
  RouteBalancer balancer;
  RouteUpstreamStatePtr upstream;
  RouteStats* stats = nullptr;
  BalancerCursors* cursors = nullptr;
};

RouteRuntimeStore::RouteRuntimeStore() = default;
RouteRuntimeStore::~RouteRuntimeStore() = default;

// resolve()'s access to the store's insides.
struct RouteResolver {
  using Parts = RouteRuntimeStore::Parts;

  static std::unique_ptr<Parts> build(const Route& route, RuntimeDeps& deps) {
    auto parts = std::make_unique<Parts>(route.sharedSpec(), deps.upstreams);
    parts->stats = deps.metrics.routeStats(route.spec.name);
    parts->cursors = deps.cursors.cursorsFor(route.spec.name);
    for (const BackendSpec& backend : route.spec.backends)
      for (const EndpointSpec& endpoint : backend.endpoints) ++deps.store.endpoints_[endpoint.address()];
    return parts;
  }

  static void release(const RouteSpec& spec, RouteRuntimeStore& store, std::vector<std::string>& unused) {
    for (const BackendSpec& backend : spec.backends) {
      for (const EndpointSpec& endpoint : backend.endpoints) {
        auto it = store.endpoints_.find(endpoint.address());
        if (it == store.endpoints_.end() || --it->second > 0) continue;
        unused.push_back(it->first);
        store.endpoints_.erase(it);
      }
    }
  }

  static ResolvedTable resolve(const RouteTable& next, const TableRuntime* previous, RuntimeDeps& deps) {
    RouteRuntimeStore& store = deps.store;
    // store.owned_ is indexed like the store's last runtime: only that one can be followed.
    if (previous && previous->version != store.version_) previous = nullptr;
    ResolvedTable out;
    auto runtime = std::make_shared<TableRuntime>();
    runtime->version = next.version();
    runtime->policies = deps.policies.forTable(next);
    const size_t n = next.routes().size();
    runtime->routes.reserve(n);
    runtime->specs.reserve(n);
    std::vector<std::unique_ptr<Parts>> owned;
    owned.reserve(n);

    static const std::vector<const RouteSpec*> kNone;
    SpecReuse reuse(previous ? previous->version : 0, previous ? previous->specs : kNone, next);
    for (const Route& route : next.routes()) {
      if (const size_t j = reuse.find(route); j != Route::kNoPrevious) {
        owned.push_back(std::move(store.owned_[j]));  // once at most: specs are distinct in a table
        runtime->routes.push_back(previous->routes[j]);
        ++out.kept;
      } else {
        owned.push_back(build(route, deps));
        const Parts& parts = *owned.back();
        runtime->routes.push_back({parts.stats, &owned.back()->balancer, parts.cursors, parts.upstream.get(), nullptr});
        ++out.built;
      }
      // From this table's compiled policies: the same object for an unchanged route
      // unless the compiler had to start over.
      runtime->routes.back().policies = runtime->policies->routes[route.index];
      runtime->specs.push_back(&route.spec);
    }
    // After the additions above, so that an address moving between routes never counts 0.
    for (std::unique_ptr<Parts>& gone : store.owned_) {
      if (!gone) continue;
      release(*gone->spec, store, out.unusedEndpoints);
      store.retired_.retire(next.version(), std::move(gone));
      ++out.dropped;
    }
    store.retired_.track(next.version(), runtime);
    store.retired_.collect();
    store.owned_ = std::move(owned);
    store.version_ = next.version();
    out.runtime = std::move(runtime);
    return out;
  }
};

ResolvedTable resolve(const RouteTable& next, const TableRuntime* previous, RuntimeDeps& deps) {
  return RouteResolver::resolve(next, previous, deps);
}

}  // namespace portico::proxy
