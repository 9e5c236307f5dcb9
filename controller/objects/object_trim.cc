#include "controller/objects/object_trim.h"

#include <algorithm>
#include <span>
#include <string_view>

namespace portico::controller {

using nlohmann::json;

namespace {

using Names = std::span<const std::string_view>;

bool listed(Names names, std::string_view key) {
  return std::find(names.begin(), names.end(), key) != names.end();
}

// Erases the members of `object` for which keep(key) is false.
template <class Keep>
void keepOnly(json& object, Keep keep) {
  if (!object.is_object()) return;
  for (auto it = object.begin(); it != object.end();) {
    if (keep(it.key())) ++it;
    else it = object.erase(it);
  }
}

void keepListed(json& object, Names names) {
  keepOnly(object, [&](const std::string& key) { return listed(names, key); });
}

// Trims metadata.<field> (annotations or labels) to the keys `keep` accepts; drops it
// when nothing is left.
template <class Keep>
void trimMap(json& meta, const char* field, Keep keep) {
  auto it = meta.find(field);
  if (it == meta.end()) return;
  keepOnly(*it, keep);
  if (it->is_object() && it->empty()) meta.erase(it);
}

constexpr std::string_view kTopLevel[] = {"apiVersion", "kind", "metadata"};
constexpr std::string_view kMetadata[] = {"name",       "namespace",        "uid", "resourceVersion",
                                          "generation", "creationTimestamp"};
constexpr std::string_view kSpecStatus[] = {"spec", "status"};
constexpr std::string_view kSpec[] = {"spec"};
constexpr std::string_view kEndpointSlice[] = {"addressType", "ports", "endpoints"};
constexpr std::string_view kSecret[] = {"type", "data", "stringData"};
constexpr std::string_view kServiceSpec[] = {"type", "ports"};
constexpr std::string_view kEndpoint[] = {"addresses", "conditions"};

Names kindFields(Kind kind) {
  switch (kind) {
    case Kind::Ingress:
    case Kind::APIRoute:
    case Kind::GatewayClass:
    case Kind::Gateway:
    case Kind::HTTPRoute: return kSpecStatus;
    case Kind::ReferenceGrant: return kSpec;
    case Kind::Namespace: return {};
    case Kind::IngressClass:
    case Kind::Service: return kSpec;
    case Kind::EndpointSlice: return kEndpointSlice;
    case Kind::Secret: return kSecret;
  }
  return {};
}

void trimMetadata(Kind kind, json& meta) {
  if (!meta.is_object()) return;
  // annotations and labels are looked at below, per kind; everything else by kMetadata.
  keepOnly(meta, [](const std::string& key) {
    return listed(kMetadata, key) || key == "annotations" || key == "labels";
  });
  switch (kind) {
    case Kind::Ingress:
      trimMap(meta, "annotations", [](const std::string& key) {
        return key.starts_with("portico.dev/") || key == "kubernetes.io/ingress.class";
      });
      meta.erase("labels");
      return;
    case Kind::IngressClass:
      trimMap(meta, "annotations",
              [](const std::string& key) { return key == "ingressclass.kubernetes.io/is-default-class"; });
      meta.erase("labels");
      return;
    case Kind::EndpointSlice:
      meta.erase("annotations");
      trimMap(meta, "labels", [](const std::string& key) { return key == "kubernetes.io/service-name"; });
      return;
    case Kind::Namespace:
      // allowedRoutes.namespaces.selector matches namespace labels.
      meta.erase("annotations");
      return;
    case Kind::Service:
    case Kind::Secret:
    case Kind::APIRoute:
    case Kind::GatewayClass:
    case Kind::Gateway:
    case Kind::HTTPRoute:
    case Kind::ReferenceGrant:
      meta.erase("annotations");
      meta.erase("labels");
      return;
  }
}

}  // namespace

void trimObject(Kind kind, json& object) {
  if (!object.is_object()) return;
  const Names extra = kindFields(kind);
  keepOnly(object, [&](const std::string& key) { return listed(kTopLevel, key) || listed(extra, key); });
  if (auto meta = object.find("metadata"); meta != object.end()) trimMetadata(kind, *meta);
  if (kind == Kind::Service) {
    if (auto spec = object.find("spec"); spec != object.end()) keepListed(*spec, kServiceSpec);
  } else if (kind == Kind::EndpointSlice) {
    if (auto endpoints = object.find("endpoints"); endpoints != object.end() && endpoints->is_array()) {
      for (auto& endpoint : *endpoints) keepListed(endpoint, kEndpoint);
    }
  }
}

}  // namespace portico::controller
