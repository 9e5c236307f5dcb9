#include "proxy/server/table_runtime.h"

#include <string_view>
#include <unordered_set>

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
  std::optional<ExternalAuthTarget> externalAuth;
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
    if (const auto& external = route.spec.auth.external)
      parts->externalAuth = resolveExternalAuth(*external, deps.upstreams);
    return parts;
  }

  static void fill(RouteRuntime& entry, Parts& parts) {
    entry.stats = parts.stats;
    entry.balancer = &parts.balancer;
    entry.cursors = parts.cursors;
    entry.upstream = parts.upstream.get();
    entry.externalAuth = parts.externalAuth ? &*parts.externalAuth : nullptr;
  }

  // `parts` serve `route` in `runtime` from now on, and a later runtime can keep them.
  static void adopt(TableRuntime& runtime, const Route& route, Parts& parts) {
    fill(runtime.routes[route.index], parts);
    runtime.specs[route.index] = &route.spec;
  }

  static void count(const RouteSpec& spec, RouteRuntimeStore& store) {
    for (const BackendSpec& backend : spec.backends)
      for (const EndpointSpec& endpoint : backend.endpoints) ++store.endpoints_[endpoint.address()];
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
    std::vector<const Route*> changed;
    for (const Route& route : next.routes()) {
      if (const size_t j = reuse.find(route); j != Route::kNoPrevious) {
        owned.push_back(std::move(store.owned_[j]));  // once at most: specs are distinct in a table
        runtime->routes.push_back(previous->routes[j]);
        ++out.kept;
      } else {
        owned.emplace_back();  // built by ensure() on the route's first request
        runtime->routes.emplace_back();
        changed.push_back(&route);
      }
      // From this table's compiled policies: the same object for an unchanged route
      // unless the compiler had to start over.
      runtime->routes.back().policies = runtime->policies->routes[route.index];
      runtime->specs.push_back(owned.back() ? &route.spec : nullptr);
    }
    out.changed = changed.size();
    // A changed route this worker was using (its name had built objects) is built now,
    // before the old objects are released: its endpoints never count 0 in between, so
    // the swap keeps the pooled connections the route goes on using.
    std::unordered_set<std::string_view> used;
    for (const std::unique_ptr<Parts>& gone : store.owned_)
      if (gone) used.insert(gone->spec->name);
    for (const Route* route : changed) {
      if (!used.contains(route->spec.name)) continue;
      owned[route->index] = build(*route, deps);
      count(route->spec, store);
      adopt(*runtime, *route, *owned[route->index]);
    }
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

  static const RouteRuntime& ensure(TableRuntime& runtime, const Route& route, RuntimeDeps& deps) {
    RouteRuntime& entry = runtime.routes[route.index];
    if (entry.balancer) return entry;
    RouteRuntimeStore& store = deps.store;
    std::unique_ptr<Parts> parts = build(route, deps);
    if (store.version_ == runtime.version) {
      adopt(runtime, route, *parts);
      count(*parts->spec, store);  // its pooled connections now have a user
      store.owned_[route.index] = std::move(parts);
    } else {
      // An older runtime (not the worker's way, but sound): only it and older ones can
      // name the objects, so they go with it, and no later runtime keeps them.
      fill(entry, *parts);
      store.retired_.retire(store.version_, std::move(parts));
    }
    return entry;
  }
};

ResolvedTable resolve(const RouteTable& next, const TableRuntime* previous, RuntimeDeps& deps) {
  return RouteResolver::resolve(next, previous, deps);
}

const RouteRuntime& routeRuntime(TableRuntime& runtime, const Route& route, RuntimeDeps& deps) {
  return RouteResolver::ensure(runtime, route, deps);
}

}  // namespace portico::proxy
