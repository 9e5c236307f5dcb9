// Incremental render: the same result as render(StoreSnapshot) (byte for byte; a randomized
// test in test/controller/render/incremental_test.cc holds it to that), at the cost of what
// changed rather than of everything.
//
// Each APIRoute and Ingress renders to a cached piece (its diagnostics, whether it is owned,
// its routes, certificates and redirect hosts before conflicts), keyed by kind and
// namespace/name and valid for one shared object (a new object from the store is a new
// pointer). While a piece renders, ObjectIndex records what it looked up; a later change of
// one of those objects (Secret, Service or one of its EndpointSlices, IngressClass)
// re-renders exactly the pieces that looked it up, found or not. A change of whether one of
// our IngressClasses is the cluster default re-renders everything (rare, and it changes
// which class-less Ingresses are ours).
//
// Conflicts: every claim (host + pathType + path) keeps its claimants in creation order, so
// a changed piece re-settles only itself and the pieces that share one of its claims, old or
// new. When every re-settled piece keeps its place and route count (an edit), its routes are
// overwritten in place; otherwise the table is assembled again in creation order, moving the
// routes of unchanged pieces from the previous table and copying only the re-settled ones.
// Routes are shared objects (proxy::SharedRouteTableSpec): an unchanged route is the same
// object render after render, which RouteTable::build recognises without comparing it.
// Certificates and redirect hosts are re-merged only when a piece that has or had some
// changed. Diagnostics are gathered in the full render's order (APIRoutes, Ingresses, then
// conflicts, each in creation order).
//
// Pure like render: no I/O, no clock. Not thread-safe: one reconciler thread owns it.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "controller/render/render.h"
#include "controller/render/render_context.h"

namespace portico::controller {

class IncrementalRenderer {
 public:
  explicit IncrementalRenderer(RenderOptions options) : options_(std::move(options)) {}

  // Renders `snapshot`, reusing what the previous call rendered. The result stays valid
  // until the next call (the next call moves routes out of it).
  const SharedRenderResult& render(const StoreSnapshot& snapshot);
  // Forgets every piece: the next render renders every object.
  void reset();

  struct Stats {
    size_t rendered = 0;  // pieces rendered by the last call
    size_t settled = 0;   // pieces whose conflicts were settled again (their routes copied)
    bool everything = false;
  };
  const Stats& lastStats() const { return stats_; }

 private:
  // Creation order across kinds, as render.cc merges: timestamp, namespace, name, kind.
  struct OrderKey {
    std::string created, ns, name, kind;
    bool operator<(const OrderKey& o) const;
    bool operator==(const OrderKey& o) const = default;
  };
  using Identity = std::pair<Kind, std::string>;  // kind, "namespace/name"
  struct Piece {
    ObjectPtr object;
    OrderKey order;
    std::vector<Diagnostic> diagnostics;  // the object's own
    bool owned = false;                   // an Ingress of ours, not rejected
    // Before conflicts. Its routes are moved to `routes` (output->part.routes stays empty):
    // a route that loses nothing to conflicts is that very object in the table.
    std::optional<ObjectOutput> output;
    std::vector<proxy::RouteSpecConstSharedPtr> routes;
    bool routeFields = false;  // output->routeFields has one entry per route
    std::vector<std::string> claims;      // claimsOf(*output)
    std::vector<std::string> dependencies;
    std::vector<Diagnostic> conflicts;  // Conflict diagnostics from the last settling
    size_t tableRoutes = 0;             // routes in the table, after conflicts
    size_t offset = 0;                  // where they start in result_.table.routes
    bool settle = false;                // settle `routes` against the claims again
    bool fresh = true;                  // not in the table yet (offset, routes unset)
  };

  // What one render changed beyond the routes; each list of the result is gathered again
  // (an O(objects) walk) only when something it holds may have changed.
  struct ReportChanges {
    bool tls = false;          // certificates or redirect hosts
    bool diagnostics = false;  // a piece's diagnostics or conflicts
    bool routed = false;       // an APIRoute piece came, went or re-settled
    bool owned = false;        // the set of owned Ingresses
    std::map<Identity, OrderKey> lostOwned;  // owned pieces removed; re-added in place: taken out
    void everything() { tls = diagnostics = routed = owned = true; }
  };
  // Piece bookkeeping.
  void removePiece(const Identity& id, std::set<std::string>& touchedClaims, ReportChanges& changes);
  void addPiece(const Identity& id, const ObjectPtr& object, const ObjectIndex& index, const ClassSelector& classes,
                std::set<std::string>& touchedClaims, ReportChanges& changes);
  // Which pieces must render again, from what changed between previous_ and `snapshot`.
  std::set<Identity> changedSince(const StoreSnapshot& snapshot) const;
  // The routes of `piece` after its conflicts (its own shared objects, or copies with the
  // hosts they kept), and its Conflict diagnostics.
  std::vector<proxy::RouteSpecConstSharedPtr> settle(Piece& piece);
  void assembleRoutes(ReportChanges& changes);
  void assembleCertificates();
  void assembleDiagnostics();
  void assembleOwned();

  RenderOptions options_;
  bool initialized_ = false;
  bool weAreDefault_ = false;
  StoreSnapshot previous_;
  std::map<Identity, Piece> pieces_;    // std::map: Piece addresses stay stable
  std::map<OrderKey, Piece*> ordered_;  // every piece, creation order
  std::unordered_map<std::string, std::set<Identity>> dependents_;  // "Secret ns/name" -> pieces
  std::unordered_map<std::string, std::map<OrderKey, int>> claimants_;  // claim -> claimant, count
  // Pieces removed by this render: where their routes were (offset, count).
  std::map<OrderKey, std::pair<size_t, size_t>> vacated_;
  SharedRenderResult result_;
  Stats stats_;
};

}  // namespace portico::controller
