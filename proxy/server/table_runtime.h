// The per-worker runtime of a routing table: for each route, the objects a request uses
// (balancer, counters, cursors, retry budget, compiled policies), resolved once per
// table version by resolve() and then read without locks or lookups.
//
// A route's objects are built on its first request on the worker (routeRuntime()), not
// at the swap: at 11,000 routes most are idle on any one worker, and building them all
// cost ~8 MB per worker and the first request after every swap. The exception is a route
// that changed while the worker was using it: it is rebuilt at the swap, so that its
// endpoints stay counted and their pooled connections stay open.
//
// A swap costs in proportion to the change. A route whose spec object is the same as in
// the previous table (RouteTable::build shares the object of an unchanged route) keeps
// its runtime objects as they are; only new and changed routes are built. The entries
// hold plain pointers: the worker's RouteRuntimeStore owns the objects, so what stays
// O(routes) is copying a few pointers per route, touching neither the objects nor a
// reference count. The objects of a removed or changed route are freed once no table
// runtime that names them is alive (a request may pin an old one).
//
// Worker thread only: the objects here are per worker.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "proxy/common/retired_objects.h"
#include "proxy/config/route_table.h"
#include "proxy/policy/route_policies.h"
#include "proxy/runtime/metrics.h"
#include "proxy/server/ext_auth_target.h"
#include "proxy/upstream/balancer.h"
#include "proxy/upstream/upstream_state.h"

namespace portico::proxy {

// What a request resolves once per table version: its route's counters, balancer and
// cursors, and the shared upstream state (retry budget). Valid while the TableRuntime
// holding the entry is.
struct RouteRuntime {
  // Null until the route's first request on this worker (see routeRuntime()).
  RouteStats* stats = nullptr;
  RouteBalancer* balancer = nullptr;
  BalancerCursors* cursors = nullptr;
  RouteUpstreamState* upstream = nullptr;
  const policy::RoutePolicies* policies = nullptr;  // nullptr: they failed to compile (503)
  const ExternalAuthTarget* externalAuth = nullptr;  // routes with auth.external
};

// The runtime of every route of one table version, indexed by Route::index. A request
// pins it together with its table: both stay valid while it runs, whatever is published.
struct TableRuntime {
  uint64_t version = 0;  // of the table it was resolved for
  std::vector<RouteRuntime> routes;
  policy::TablePoliciesConstSharedPtr policies;  // what routes[i].policies point into
  // routes[i] was built for this spec object (the table's Route::spec), which the
  // worker's store keeps alive as long as this runtime; null while routes[i] is not built
  // (nothing to keep, and its spec may be gone with its table: SpecReuse compares only
  // live pointers).
  std::vector<const RouteSpec*> specs;
};
using TableRuntimePtr = std::shared_ptr<TableRuntime>;  // the worker's newest, filled in as routes are used
using TableRuntimeConstSharedPtr = std::shared_ptr<const TableRuntime>;

// Per worker: owns what resolve() built for each route of the newest runtime, counts the
// routes naming each endpoint address (so that a swap finds the addresses no route uses
// any more from the changed routes alone), and frees the objects of routes that left.
class RouteRuntimeStore {
 public:
  RouteRuntimeStore();
  ~RouteRuntimeStore();
  size_t endpointAddresses() const { return endpoints_.size(); }
  size_t retiredRoutes() const { return retired_.pending(); }

 private:
  friend struct RouteResolver;
  struct Parts;
  uint64_t version_ = 0;  // of the newest runtime resolved with this store
  std::vector<std::unique_ptr<Parts>> owned_;  // by Route::index of that runtime
  RetiredObjects<Parts> retired_;
  std::unordered_map<std::string, uint32_t> endpoints_;  // address → routes naming it
};

// What resolve() reads and updates besides the tables.
struct RuntimeDeps {
  policy::PolicyCompiler& policies;  // process-wide
  Metrics& metrics;                  // process-wide
  UpstreamRegistry& upstreams;       // process-wide
  BalancerCursorStore& cursors;      // this worker's
  RouteRuntimeStore& store;          // this worker's; describes `previous` on entry
};

struct ResolvedTable {
  TableRuntimePtr runtime;
  // Endpoint addresses that routes of the previous runtime named and no route of the new
  // one does (their pooled connections can go).
  std::vector<std::string> unusedEndpoints;
  size_t kept = 0;     // routes whose built runtime was kept
  size_t changed = 0;  // the others: built on their first request (or now, see above)
  size_t dropped = 0;  // routes of `previous` whose objects the new runtime does not keep
};

// The runtime of `next`, keeping from `previous` (the last runtime resolved with the same
// store, or nullptr the first time) the objects of every route whose spec object did not
// change. Any other `previous` is not trusted: nothing is kept then.
[[nodiscard]] ResolvedTable resolve(const RouteTable& next, const TableRuntime* previous, RuntimeDeps& deps);

// The runtime of `route` (a route of the table `runtime` was resolved for), built now if
// no request used it yet. `runtime` is the newest resolved with deps.store; the entry does
// not change once built, so requests in flight may hold a pointer to it.
const RouteRuntime& routeRuntime(TableRuntime& runtime, const Route& route, RuntimeDeps& deps);

}  // namespace portico::proxy
