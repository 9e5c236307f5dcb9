// The controller's model of watched objects, below both the informer (which fills it) and
// render (which reads it), so that neither depends on the other.
//
// Two shapes:
//  - ObjectSnapshot: plain lists of objects, one vector per kind. What tests and the
//    standalone file source build by hand; render accepts it.
//  - StoreSnapshot: what ObjectStore hands out. Objects are immutable and shared
//    (shared_ptr<const json>): a snapshot is a handful of pointers to per-kind maps that the
//    store copies only when it changes a kind that a snapshot still holds, and then only
//    the chunk of the map that changes (ObjectMap), never the objects. The reconciler,
//    render and the status writer all read the same snapshot; nothing is deep-copied per
//    swap.
#pragma once

#include <array>
#include <cstddef>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "controller/objects/object_map.h"

namespace portico::controller {

// The Gateway API kinds (gateway.networking.k8s.io/v1) and Namespace (for a listener's
// allowedRoutes namespace selector) come last.
enum class Kind {
  Ingress, IngressClass, Service, EndpointSlice, Secret, APIRoute,
  GatewayClass, Gateway, HTTPRoute, ReferenceGrant, Namespace
};
constexpr Kind kAllKinds[] = {Kind::Ingress,      Kind::IngressClass, Kind::Service,   Kind::EndpointSlice,
                              Kind::Secret,       Kind::APIRoute,     Kind::GatewayClass, Kind::Gateway,
                              Kind::HTTPRoute,    Kind::ReferenceGrant, Kind::Namespace};
// Kinds served by CustomResourceDefinitions, which may be missing from a cluster: their
// reflectors treat 404 before the first list as "no objects" and keep looking.
constexpr bool isCustomKind(Kind kind) {
  return kind == Kind::APIRoute || kind == Kind::GatewayClass || kind == Kind::Gateway ||
         kind == Kind::HTTPRoute || kind == Kind::ReferenceGrant;
}
constexpr size_t kKindCount = std::size(kAllKinds);
const char* kindName(Kind kind);

// Objects as the Kubernetes API serves them (JSON), one vector per kind.
struct ObjectSnapshot {
  std::vector<nlohmann::json> apiRoutes;       // portico.dev/v1alpha1 APIRoute
  std::vector<nlohmann::json> secrets;         // v1 Secret (data base64, or stringData)
  std::vector<nlohmann::json> ingresses;       // networking.k8s.io/v1 Ingress
  std::vector<nlohmann::json> ingressClasses;  // networking.k8s.io/v1 IngressClass
  std::vector<nlohmann::json> services;        // v1 Service
  std::vector<nlohmann::json> endpointSlices;  // discovery.k8s.io/v1 EndpointSlice
  std::vector<nlohmann::json> gatewayClasses;   // gateway.networking.k8s.io/v1 GatewayClass
  std::vector<nlohmann::json> gateways;         // gateway.networking.k8s.io/v1 Gateway
  std::vector<nlohmann::json> httpRoutes;       // gateway.networking.k8s.io/v1 HTTPRoute
  std::vector<nlohmann::json> referenceGrants;  // gateway.networking.k8s.io/v1 ReferenceGrant
  std::vector<nlohmann::json> namespaces;       // v1 Namespace (labels only)

  // Calls fn(kind, list) for each kind's list (const or not, as *this is).
  template <class Self, class F>
  static void forEachList(Self& self, F&& fn) {
    fn(Kind::APIRoute, self.apiRoutes);
    fn(Kind::Secret, self.secrets);
    fn(Kind::Ingress, self.ingresses);
    fn(Kind::IngressClass, self.ingressClasses);
    fn(Kind::Service, self.services);
    fn(Kind::EndpointSlice, self.endpointSlices);
    fn(Kind::GatewayClass, self.gatewayClasses);
    fn(Kind::Gateway, self.gateways);
    fn(Kind::HTTPRoute, self.httpRoutes);
    fn(Kind::ReferenceGrant, self.referenceGrants);
    fn(Kind::Namespace, self.namespaces);
  }
};

// A kind's objects are an ObjectMap (object_map.h) from "namespace/name" ("/name" for
// cluster-scoped objects) to the shared object.
// "namespace/service" (label kubernetes.io/service-name) -> that Service's EndpointSlices,
// ordered by slice name. The pointers point into the EndpointSlice map of the same snapshot,
// which keeps them alive.
using SliceIndex = std::map<std::string, std::vector<const nlohmann::json*>>;

// "namespace/name" of an object ("" namespace for cluster-scoped ones).
std::string objectKey(const nlohmann::json& object);
// "namespace/service" an EndpointSlice belongs to, or "" when it has no service label.
std::string sliceServiceKey(const nlohmann::json& slice);

// Calls fn(key, before, after) for every key whose object differs between two maps
// (added: before is null; removed: after is null; replaced: a new object), in key order;
// nothing when both are the same shared map, and nothing for the chunks they share.
template <class F>
void forEachChange(const std::shared_ptr<const ObjectMap>& before, const std::shared_ptr<const ObjectMap>& after,
                   F&& fn) {
  if (before != after) ObjectMap::forEachChange(*before, *after, std::forward<F>(fn));
}

class StoreSnapshot {
 public:
  StoreSnapshot();
  // A snapshot of plain lists (tests, debug checks). The first object of a key wins.
  static StoreSnapshot fromLists(const ObjectSnapshot& lists);
  // Deep copies as plain lists, in key order (tests, debugging; not on the render path).
  ObjectSnapshot toLists() const;

  const ObjectMap& objects(Kind kind) const { return *kinds_[static_cast<size_t>(kind)]; }
  // The shared map itself: equal pointers mean the kind did not change between snapshots.
  const std::shared_ptr<const ObjectMap>& shared(Kind kind) const {
    return kinds_[static_cast<size_t>(kind)];
  }
  const nlohmann::json* find(Kind kind, const std::string& key) const;
  const SliceIndex& slicesByService() const { return *slices_; }

 private:
  friend class ObjectStore;
  std::array<std::shared_ptr<const ObjectMap>, kKindCount> kinds_;
  std::shared_ptr<const SliceIndex> slices_;
};

}  // namespace portico::controller
