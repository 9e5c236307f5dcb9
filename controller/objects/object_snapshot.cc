#include "controller/objects/object_snapshot.h"

#include <algorithm>

namespace portico::controller {

using nlohmann::json;

const char* kindName(Kind kind) {
  switch (kind) {
    case Kind::Ingress: return "Ingress";
    case Kind::IngressClass: return "IngressClass";
    case Kind::Service: return "Service";
    case Kind::EndpointSlice: return "EndpointSlice";
    case Kind::Secret: return "Secret";
    case Kind::APIRoute: return "APIRoute";
    case Kind::GatewayClass: return "GatewayClass";
    case Kind::Gateway: return "Gateway";
    case Kind::HTTPRoute: return "HTTPRoute";
    case Kind::ReferenceGrant: return "ReferenceGrant";
    case Kind::Namespace: return "Namespace";
  }
  return "?";
}

namespace {
std::string stringAt(const json& object, const char* key) {
  auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : std::string();
}
}  // namespace

std::string objectKey(const json& object) {
  if (!object.is_object()) return "/";
  auto meta = object.find("metadata");
  if (meta == object.end() || !meta->is_object()) return "/";
  return stringAt(*meta, "namespace") + "/" + stringAt(*meta, "name");
}

std::string sliceServiceKey(const json& slice) {
  if (!slice.is_object()) return {};
  auto meta = slice.find("metadata");
  if (meta == slice.end() || !meta->is_object()) return {};
  auto labels = meta->find("labels");
  if (labels == meta->end() || !labels->is_object()) return {};
  std::string service = stringAt(*labels, "kubernetes.io/service-name");
  return service.empty() ? std::string() : stringAt(*meta, "namespace") + "/" + service;
}

StoreSnapshot::StoreSnapshot() : slices_(std::make_shared<const SliceIndex>()) {
  for (auto& kind : kinds_) kind = std::make_shared<const ObjectMap>();
}

const json* StoreSnapshot::find(Kind kind, const std::string& key) const {
  const ObjectMap& map = objects(kind);
  auto it = map.find(key);
  return it == map.end() ? nullptr : it->second.get();
}

StoreSnapshot StoreSnapshot::fromLists(const ObjectSnapshot& lists) {
  StoreSnapshot snap;
  auto fill = [&](Kind kind, const std::vector<json>& from) {
    auto map = std::make_shared<ObjectMap>();
    for (const auto& o : from) {
      ObjectPtr& slot = (*map)[objectKey(o)];
      if (!slot) slot = std::make_shared<const json>(o);  // the first of a key wins
    }
    snap.kinds_[static_cast<size_t>(kind)] = std::move(map);
  };
  ObjectSnapshot::forEachList(lists, fill);
  auto slices = std::make_shared<SliceIndex>();
  for (const auto& [key, slice] : snap.objects(Kind::EndpointSlice)) {
    if (auto svc = sliceServiceKey(*slice); !svc.empty()) (*slices)[svc].push_back(slice.get());
  }
  // Keys are "namespace/name" and one namespace's slices share the prefix: key order is
  // name order within a service.
  snap.slices_ = std::move(slices);
  return snap;
}

ObjectSnapshot StoreSnapshot::toLists() const {
  ObjectSnapshot lists;
  auto copy = [&](Kind kind, std::vector<json>& to) {
    for (const auto& [key, o] : objects(kind)) to.push_back(*o);
  };
  ObjectSnapshot::forEachList(lists, copy);
  return lists;
}

}  // namespace portico::controller
