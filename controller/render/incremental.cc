#include "controller/render/incremental.h"

#include <tuple>

#include "controller/render/apiroute.h"
#include "controller/render/conflicts.h"
#include "controller/render/httproute.h"
#include "controller/render/ingress.h"
#include "proxy/config/route_table.h"

namespace portico::controller {

using nlohmann::json;

// The kinds that render to pieces, in the full render's order.
constexpr Kind kPieceKinds[] = {Kind::APIRoute, Kind::Ingress, Kind::Gateway, Kind::HTTPRoute};

bool IncrementalRenderer::OrderKey::operator<(const OrderKey& o) const {
  return std::tie(created, ns, name, kind) < std::tie(o.created, o.ns, o.name, o.kind);
}

void IncrementalRenderer::reset() {
  initialized_ = false;
  pieces_.clear();
  ordered_.clear();
  dependents_.clear();
  claimants_.clear();
  previous_ = StoreSnapshot();
  result_ = SharedRenderResult();
}


std::set<IncrementalRenderer::Identity> IncrementalRenderer::changedSince(const StoreSnapshot& snapshot) const {
  std::set<Identity> dirty;
  for (Kind kind : kPieceKinds) {
    forEachChange(previous_.shared(kind), snapshot.shared(kind),
                  [&](const std::string& key, const ObjectPtr&, const ObjectPtr&) { dirty.emplace(kind, key); });
  }
  auto dependentsOf = [&](const std::string& dependency) {
    if (auto it = dependents_.find(dependency); it != dependents_.end()) dirty.insert(it->second.begin(), it->second.end());
  };
  forEachChange(previous_.shared(Kind::Secret), snapshot.shared(Kind::Secret),
                [&](const std::string& key, const ObjectPtr&, const ObjectPtr&) { dependentsOf("Secret " + key); });
  forEachChange(previous_.shared(Kind::Service), snapshot.shared(Kind::Service),
                [&](const std::string& key, const ObjectPtr&, const ObjectPtr&) { dependentsOf("Service " + key); });
  forEachChange(previous_.shared(Kind::EndpointSlice), snapshot.shared(Kind::EndpointSlice),
                [&](const std::string&, const ObjectPtr& before, const ObjectPtr& after) {
                  // The Service it belonged to and the one it belongs to now (a relabelled slice).
                  for (const ObjectPtr& slice : {before, after}) {
                    if (!slice) continue;
                    if (auto svc = sliceServiceKey(*slice); !svc.empty()) dependentsOf("Service " + svc);
                  }
                });
  // Gateway API lookups: cluster-scoped keys are "/name"; grants are looked up per namespace.
  auto byName = [&](Kind kind, const char* dependency) {
    forEachChange(previous_.shared(kind), snapshot.shared(kind), [&](const std::string& key, const ObjectPtr&, const ObjectPtr&) {
      dependentsOf(std::string(dependency) + " " + key.substr(key.find('/') + 1));
    });
  };
  byName(Kind::GatewayClass, "GatewayClass");
  byName(Kind::Namespace, "Namespace");
  forEachChange(previous_.shared(Kind::Gateway), snapshot.shared(Kind::Gateway),
                [&](const std::string& key, const ObjectPtr&, const ObjectPtr&) { dependentsOf("Gateway " + key); });
  forEachChange(previous_.shared(Kind::ReferenceGrant), snapshot.shared(Kind::ReferenceGrant),
                [&](const std::string& key, const ObjectPtr&, const ObjectPtr&) {
                  dependentsOf("ReferenceGrant " + key.substr(0, key.find('/')));
                });
  forEachChange(previous_.shared(Kind::IngressClass), snapshot.shared(Kind::IngressClass),
                [&](const std::string& key, const ObjectPtr& before, const ObjectPtr& after) {
                  // Looked up by metadata.name; the key is "/name" for a cluster-scoped object.
                  for (const ObjectPtr& cls : {before, after}) {
                    if (cls) dependentsOf("IngressClass " + metadataString(*cls, "name"));
                  }
                  dependentsOf("IngressClass " + key.substr(key.find('/') + 1));
                });
  return dirty;
}

static bool hasTls(const std::optional<ObjectOutput>& output) {
  return output && (!output->part.certificates.empty() || !output->part.httpsRedirectHosts.empty());
}

void IncrementalRenderer::removePiece(const Identity& id, std::set<std::string>& touchedClaims,
                                      ReportChanges& changes) {
  auto it = pieces_.find(id);
  if (it == pieces_.end()) return;
  Piece& piece = it->second;
  for (const auto& dependency : piece.dependencies) {
    auto dep = dependents_.find(dependency);
    if (dep == dependents_.end()) continue;
    dep->second.erase(id);
    if (dep->second.empty()) dependents_.erase(dep);
  }
  for (const auto& claim : piece.claims) {
    touchedClaims.insert(claim);
    auto c = claimants_.find(claim);
    if (c == claimants_.end()) continue;
    if (--c->second[piece.order] == 0) c->second.erase(piece.order);
    if (c->second.empty()) claimants_.erase(c);
  }
  changes.tls = changes.tls || hasTls(piece.output);
  changes.diagnostics = changes.diagnostics || !piece.diagnostics.empty() || !piece.conflicts.empty();
  changes.routed = changes.routed || id.first == Kind::APIRoute;
  if (piece.owned) changes.lostOwned.emplace(id, piece.order);
  // Where its routes were, in case it comes back in the same place (assembleRoutes).
  if (!piece.fresh) vacated_[piece.order] = {piece.offset, piece.tableRoutes};
  ordered_.erase(piece.order);
  pieces_.erase(it);
}

void IncrementalRenderer::addPiece(const Identity& id, const ObjectPtr& object, const ObjectIndex& index,
                                   const ClassSelector& classes, std::set<std::string>& touchedClaims,
                                   ReportChanges& changes) {
  Piece& piece = pieces_[id];
  piece.object = object;
  const OrderedObject o = orderedObject(*object);
  piece.order = OrderKey{o.created, o.ns, o.name, kindName(id.first)};
  index.recordInto(&piece.dependencies);
  if (id.first == Kind::APIRoute) {
    piece.output = renderApiRoute(o, index, classes, options_, piece.diagnostics, nullptr);
  } else if (id.first == Kind::Gateway) {
    piece.output = renderGateway(o, index, options_);
  } else if (id.first == Kind::HTTPRoute) {
    piece.output = renderHttpRoute(o, index, options_, piece.diagnostics);
  } else {
    piece.output = renderIngress(o, index, classes, options_, piece.diagnostics, piece.owned, nullptr);
  }
  index.recordInto(nullptr);
  std::sort(piece.dependencies.begin(), piece.dependencies.end());
  piece.dependencies.erase(std::unique(piece.dependencies.begin(), piece.dependencies.end()),
                           piece.dependencies.end());
  for (const auto& dependency : piece.dependencies) dependents_[dependency].insert(id);
  if (piece.output) {
    piece.claims = claimsOf(*piece.output);
    piece.routeFields = piece.output->routeFields.size() == piece.output->part.routes.size();
    piece.routes.reserve(piece.output->part.routes.size());
    for (auto& route : piece.output->part.routes) piece.routes.push_back(proxy::shareRoute(std::move(route)));
    // Not `= {}`: that assigns an empty list and keeps the buffer of moved-from specs
    // (1.7 KB per route, held as long as the piece).
    std::vector<proxy::RouteSpec>().swap(piece.output->part.routes);
  }
  for (const auto& claim : piece.claims) {
    touchedClaims.insert(claim);
    ++claimants_[claim][piece.order];
  }
  piece.settle = true;
  ordered_.emplace(piece.order, &piece);
  ++stats_.rendered;
  changes.tls = changes.tls || hasTls(piece.output);
  changes.diagnostics = changes.diagnostics || !piece.diagnostics.empty();
  changes.routed = changes.routed || id.first == Kind::APIRoute;
  // Owned before and after, in the same place in creation order (an edit), leaves the
  // list as it was.
  if (piece.owned) {
    auto lost = changes.lostOwned.find(id);
    if (lost == changes.lostOwned.end() || !(lost->second == piece.order)) {
      changes.owned = true;
    } else {
      changes.lostOwned.erase(lost);
    }
  }
}

const SharedRenderResult& IncrementalRenderer::render(const StoreSnapshot& snapshot) {
  stats_ = Stats{};
  ObjectIndex index(snapshot);
  ClassSelector classes(index, options_);
  std::set<Identity> dirty;
  if (!initialized_ || classes.weAreDefault() != weAreDefault_) {
    stats_.everything = true;
    for (const auto& [id, piece] : pieces_) dirty.insert(id);
    for (Kind kind : kPieceKinds) {
      for (const auto& [key, object] : snapshot.objects(kind)) dirty.emplace(kind, key);
    }
  } else {
    dirty = changedSince(snapshot);
  }

  std::set<std::string> touchedClaims;
  vacated_.clear();
  ReportChanges changes;
  if (stats_.everything) changes.everything();
  for (const auto& id : dirty) removePiece(id, touchedClaims, changes);
  for (const auto& id : dirty) {
    auto it = snapshot.objects(id.first).find(id.second);
    if (it == snapshot.objects(id.first).end()) continue;
    addPiece(id, it->second, index, classes, touchedClaims, changes);
  }
  if (!changes.lostOwned.empty()) changes.owned = true;
  // Pieces that share a claim with a changed one may win or lose it now.
  for (const auto& claim : touchedClaims) {
    auto c = claimants_.find(claim);
    if (c == claimants_.end()) continue;
    for (const auto& [order, count] : c->second) ordered_.at(order)->settle = true;
  }

  assembleRoutes(changes);
  if (changes.tls) assembleCertificates();
  if (changes.diagnostics || changes.routed) assembleDiagnostics();
  if (changes.owned) assembleOwned();
  previous_ = snapshot;
  weAreDefault_ = classes.weAreDefault();
  initialized_ = true;
  return result_;
}

std::vector<proxy::RouteSpecConstSharedPtr> IncrementalRenderer::settle(Piece& piece) {
  piece.conflicts.clear();
  const OrderKey& self = piece.order;
  auto ownerOf = [&](const std::string& claim) {
    const OrderKey& first = claimants_.at(claim).begin()->first;
    return ClaimOwner{first.kind, first.ns, first.name, first == self};
  };
  Reporter reporter(piece.conflicts, ObjectRef{piece.output->kind, piece.output->ns, piece.output->name});
  std::vector<proxy::RouteSpecConstSharedPtr> kept;
  kept.reserve(piece.routes.size());
  for (size_t r = 0; r < piece.routes.size(); ++r) {
    const proxy::RouteSpecConstSharedPtr& route = piece.routes[r];
    std::optional<std::vector<std::string>> won =
        settleRoute(*piece.output, r, *route, piece.routeFields, ownerOf, reporter);
    if (!won) {
      kept.push_back(route);
    } else if (!won->empty()) {
      proxy::RouteSpec partial = *route;
      keepWonClaims(partial, std::move(*won));
      kept.push_back(proxy::shareRoute(std::move(partial)));
    }
  }
  return kept;
}

void IncrementalRenderer::assembleRoutes(ReportChanges& changes) {
  // The routes of every piece to settle again.
  std::vector<std::pair<Piece*, std::vector<proxy::RouteSpecConstSharedPtr>>> settled;
  for (auto& [order, piece] : ordered_) {
    if (!piece->settle) continue;
    piece->settle = false;
    ++stats_.settled;
    changes.diagnostics = changes.diagnostics || !piece->conflicts.empty();  // before settling
    changes.routed = changes.routed || order.kind == "APIRoute";
    if (piece->output) {
      settled.emplace_back(piece, settle(*piece));
      changes.diagnostics = changes.diagnostics || !piece->conflicts.empty();  // after
    } else {
      piece->conflicts.clear();
      settled.emplace_back(piece, std::vector<proxy::RouteSpecConstSharedPtr>{});
    }
  }
  auto& routes = result_.table.routes;
  // In place when every settled piece keeps its slot and route count and no piece with
  // routes went away: the usual edit. Then only the changed routes are touched.
  bool inPlace = true;
  size_t kept = 0;  // vacated slots with routes that a settled piece takes again
  std::vector<std::pair<size_t, size_t>> slots;  // old offset, old count, per settled piece
  slots.reserve(settled.size());
  for (auto& [piece, newRoutes] : settled) {
    size_t offset = piece->offset, count = piece->tableRoutes;
    if (piece->fresh) {
      offset = 0;
      count = 0;
      if (auto v = vacated_.find(piece->order); v != vacated_.end()) {
        offset = v->second.first;
        count = v->second.second;
        if (count > 0) ++kept;
      }
    }
    if (newRoutes.size() != count) inPlace = false;
    slots.emplace_back(offset, count);
  }
  size_t vacatedWithRoutes = 0;
  for (const auto& [order, slot] : vacated_) vacatedWithRoutes += slot.second > 0 ? 1 : 0;
  if (vacatedWithRoutes != kept) inPlace = false;

  if (inPlace) {
    for (size_t i = 0; i < settled.size(); ++i) {
      auto& [piece, newRoutes] = settled[i];
      for (size_t r = 0; r < newRoutes.size(); ++r) routes[slots[i].first + r] = std::move(newRoutes[r]);
      piece->offset = slots[i].first;
      piece->tableRoutes = newRoutes.size();
      piece->fresh = false;
    }
    return;
  }
  // Else a new table in creation order: moved from the old one, copied for settled pieces.
  std::unordered_map<Piece*, std::vector<proxy::RouteSpecConstSharedPtr>*> fresh;
  for (auto& [piece, newRoutes] : settled) fresh.emplace(piece, &newRoutes);
  std::vector<proxy::RouteSpecConstSharedPtr> old = std::move(routes);
  routes.clear();
  routes.reserve(old.size() + 16);
  for (auto& [order, piece] : ordered_) {
    const size_t offset = routes.size();
    if (auto f = fresh.find(piece); f != fresh.end()) {
      for (auto& route : *f->second) routes.push_back(std::move(route));
      piece->tableRoutes = f->second->size();
    } else {
      for (size_t i = 0; i < piece->tableRoutes; ++i) routes.push_back(std::move(old[piece->offset + i]));
    }
    piece->offset = offset;
    piece->fresh = false;
  }
}

void IncrementalRenderer::assembleCertificates() {
  TableBuilder table;
  for (const auto& [order, piece] : ordered_) {
    if (!piece->output) continue;
    for (const auto& cert : piece->output->part.certificates) table.addCertificate(cert);
    table.addRedirectHosts(piece->output->part.httpsRedirectHosts);
  }
  proxy::RouteTableSpec merged = std::move(table).finish();
  result_.table.certificates = std::move(merged.certificates);
  result_.table.httpsRedirectHosts = std::move(merged.httpsRedirectHosts);
}

// Diagnostics in the full render's order, and the routed APIRoutes.
void IncrementalRenderer::assembleDiagnostics() {
  auto& out = result_.diagnostics;
  out.clear();
  for (const char* kind : {"APIRoute", "Ingress", "Gateway", "HTTPRoute"}) {
    for (const auto& [order, piece] : ordered_) {
      if (order.kind == kind) out.insert(out.end(), piece->diagnostics.begin(), piece->diagnostics.end());
    }
  }
  auto& routed = result_.routedAPIRoutes;
  routed.clear();
  for (const auto& [order, piece] : ordered_) {
    out.insert(out.end(), piece->conflicts.begin(), piece->conflicts.end());
    if (piece->tableRoutes > 0 && order.kind == "APIRoute") routed.push_back(ObjectRef{order.kind, order.ns, order.name});
  }
}

void IncrementalRenderer::assembleOwned() {
  auto& owned = result_.ownedIngresses;
  owned.clear();
  for (const auto& [order, piece] : ordered_) {
    if (piece->owned) owned.push_back(ObjectRef{order.kind, order.ns, order.name});
  }
}

}  // namespace portico::controller
