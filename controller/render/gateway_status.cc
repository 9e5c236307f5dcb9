#include "controller/render/gateway_status.h"

#include <map>

#include "controller/render/gateway_api.h"
#include "controller/render/httproute.h"

namespace portico::controller {
using namespace gwjson;

namespace {

using nlohmann::json;

json generationOf(const json& object) {
  const json* g = at(at(&object, "metadata"), "generation");
  return g && g->is_number_integer() ? *g : json();
}

// Builds conditions in order, keeping lastTransitionTime from `existing` when the status
// did not change (metav1.Condition semantics).
class Conditions {
 public:
  Conditions(const json* existing, json generation, std::string now)
      : existing_(existing), generation_(std::move(generation)), now_(std::move(now)) {}

  void add(const GatewayCondition& c) { add(c.type, c.status, c.reason, c.message); }
  void add(const std::string& type, bool ok, const std::string& reason, const std::string& message) {
    json c = {{"type", type},
              {"status", ok ? "True" : "False"},
              {"reason", reason},
              {"message", message},
              {"lastTransitionTime", now_}};
    if (!generation_.is_null()) c["observedGeneration"] = generation_;
    if (existing_ && existing_->is_array()) {
      for (const auto& old : *existing_) {
        if (str(&old, "type") == type && str(&old, "status") == c["status"].get<std::string>() &&
            !str(&old, "lastTransitionTime").empty())
          c["lastTransitionTime"] = old["lastTransitionTime"];
      }
    }
    out_.push_back(std::move(c));
  }
  json take() { return std::move(out_); }

 private:
  const json* existing_;
  json generation_;
  std::string now_;
  json out_ = json::array();
};

const json* existingConditions(const json& object) { return at(at(&object, "status"), "conditions"); }

// The listener entry of the live status named `name` (its conditions keep their times).
const json* existingListener(const json& gateway, const std::string& name) {
  const json* listeners = at(at(&gateway, "status"), "listeners");
  if (!listeners || !listeners->is_array()) return nullptr;
  for (const auto& l : *listeners) {
    if (str(&l, "name") == name) return &l;
  }
  return nullptr;
}

struct Attached {
  std::map<std::pair<std::string, std::string>, int> byListener;  // (gateway key, listener) -> routes
};

// `notProgrammed`: why the Gateway is not served yet although valid (its pool address).
json gatewayStatus(const json& object, const GatewayModel& gw, const Attached& attached, bool published,
                   const json& addresses, const std::optional<GatewayCondition>& notProgrammed, const std::string& now) {
  const json generation = generationOf(object);
  json listeners = json::array();
  bool allValid = true;
  for (const auto& l : gw.listeners) {
    const json* old = existingListener(object, l.name);
    Conditions c(at(old, "conditions"), generation, now);
    c.add(l.accepted);
    c.add(l.resolvedRefs);
    c.add(l.conflicted);
    const bool ok = l.usable() && !gw.notAccepted;
    allValid = allValid && l.usable() && l.resolvedRefs.status;
    if (!ok) c.add("Programmed", false, "Invalid", "Listener is not valid; nothing is served for it");
    else if (notProgrammed) c.add(*notProgrammed);
    else if (!published) c.add("Programmed", false, "Pending", "The routing table was not published yet");
    else c.add("Programmed", true, "Programmed", "Served by portico");
    json kinds = json::array();
    for (const auto& k : l.supportedKinds) kinds.push_back({{"group", kGatewayGroup}, {"kind", k}});
    auto it = attached.byListener.find({gw.ns + "/" + gw.name, l.name});
    listeners.push_back({{"name", l.name},
                         {"supportedKinds", std::move(kinds)},
                         {"attachedRoutes", it == attached.byListener.end() ? 0 : it->second},
                         {"conditions", c.take()}});
  }
  Conditions c(existingConditions(object), generation, now);
  if (gw.notAccepted) c.add(*gw.notAccepted);
  else if (!allValid) c.add("Accepted", true, "ListenersNotValid", "Some listeners are not valid");
  else c.add("Accepted", true, "Accepted", "Accepted by portico");
  if (gw.notAccepted) c.add("Programmed", false, "Invalid", "The Gateway is not accepted");
  else if (notProgrammed) c.add(*notProgrammed);
  else if (!published) c.add("Programmed", false, "Pending", "The routing table was not published yet");
  else c.add("Programmed", true, "Programmed", "Served by portico");
  json status = {{"conditions", c.take()}, {"listeners", std::move(listeners)}};
  status["addresses"] = gw.notAccepted ? json::array() : addresses;
  return status;
}

// Accepted / ResolvedRefs of one parent, from its attachment and the route's diagnostics.
json parentStatus(const ParentAttachment& p, const std::vector<Diagnostic>& diags, size_t routes,
                  const json* existingParent, const json& generation, const std::string& controllerName,
                  const std::string& now) {
  Conditions c(at(existingParent, "conditions"), generation, now);
  std::string invalid, invalidMessage, unresolved, unresolvedMessage;
  for (const auto& d : diags) {
    std::string& reason = d.condition == "Accepted" ? invalid : unresolved;
    std::string& message = d.condition == "Accepted" ? invalidMessage : unresolvedMessage;
    // Gateway API names its reasons; schema problems are values it does not support.
    if (reason.empty()) reason = d.condition == "Accepted" ? "UnsupportedValue" : d.reason;
    message += (message.empty() ? "" : "; ") + d.message;
  }
  if (!p.accepted) c.add("Accepted", false, p.reason, p.message);
  else if (!invalid.empty() && routes == 0) c.add("Accepted", false, invalid, invalidMessage);
  else c.add("Accepted", true, "Accepted", p.message);
  if (unresolved.empty()) c.add("ResolvedRefs", true, "ResolvedRefs", "All references resolved");
  else c.add("ResolvedRefs", false, unresolved, unresolvedMessage);
  if (p.accepted && !invalid.empty() && routes > 0) c.add("PartiallyInvalid", true, invalid, invalidMessage);
  return {{"parentRef", p.parentRef}, {"controllerName", controllerName}, {"conditions", c.take()}};
}

json routeStatus(const json& route, const std::vector<ParentAttachment>& parents, const std::vector<Diagnostic>& diags,
                 size_t routes, const std::string& controllerName, const std::string& now) {
  const json generation = generationOf(route);
  const json* live = at(at(&route, "status"), "parents");
  json out = json::array();
  // Other controllers' entries first, untouched.
  if (live && live->is_array()) {
    for (const auto& p : *live) {
      if (str(&p, "controllerName") != controllerName) out.push_back(p);
    }
  }
  for (const auto& p : parents) {
    if (!p.ours) continue;
    const json* existing = nullptr;
    if (live && live->is_array()) {
      for (const auto& e : *live) {
        if (str(&e, "controllerName") == controllerName && at(&e, "parentRef") && e["parentRef"] == p.parentRef)
          existing = &e;
      }
    }
    out.push_back(parentStatus(p, diags, routes, existing, generation, controllerName, now));
  }
  return {{"parents", std::move(out)}};
}

}  // namespace

const std::vector<std::string>& supportedGatewayFeatures() {
  static const std::vector<std::string> features = {
      "Gateway",
      "HTTPRoute",
      "HTTPRoute303RedirectStatusCode",
      "HTTPRoute307RedirectStatusCode",
      "HTTPRoute308RedirectStatusCode",
      "HTTPRouteBackendTimeout",
      "HTTPRouteHostRewrite",
      "HTTPRouteMethodMatching",
      "HTTPRoutePathRewrite",
      "HTTPRoutePortRedirect",
      "HTTPRouteQueryParamMatching",
      "HTTPRouteRequestTimeout",
      "HTTPRouteResponseHeaderModification",
      "HTTPRouteSchemeRedirect",
      "ReferenceGrant",
  };
  return features;
}

std::vector<GatewayApiStatus> computeGatewayApiStatuses(const StoreSnapshot& snapshot, const RenderOptions& options,
                                                        bool published, const json& addresses, const std::string& now) {
  std::vector<GatewayApiStatus> out;
  ObjectIndex index(snapshot);
  const std::string& controller = options.gatewayControllerName;
  for (const auto& [key, cls] : snapshot.objects(Kind::GatewayClass)) {
    if (str(at(cls.get(), "spec"), "controllerName") != controller) continue;
    Conditions c(existingConditions(*cls), generationOf(*cls), now);
    if (at(at(cls.get(), "spec"), "parametersRef")) {
      c.add("Accepted", false, "InvalidParameters", "portico takes no parameters: spec.parametersRef must be unset");
    } else {
      c.add("Accepted", true, "Accepted", "Handled by portico");
    }
    json features = json::array();
    for (const auto& f : supportedGatewayFeatures()) features.push_back({{"name", f}});
    out.push_back({Kind::GatewayClass, "", metadataString(*cls, "name"), cls,
                   {{"conditions", c.take()}, {"supportedFeatures", std::move(features)}}});
  }
  Attached attached;
  for (const auto& [key, route] : snapshot.objects(Kind::HTTPRoute)) {
    std::vector<ParentAttachment> parents = attachParents(*route, index, controller);
    bool ours = false;
    for (const auto& p : parents) {
      ours = ours || p.ours;
      if (!p.accepted) continue;
      for (const auto& l : p.listeners) ++attached.byListener[{p.gatewayKey, l}];
    }
    if (!ours) continue;
    std::vector<Diagnostic> diags;
    const size_t routes = httpRouteRuleDiagnostics(orderedObject(*route), index, options, diags);
    out.push_back({Kind::HTTPRoute, metadataString(*route, "namespace"), metadataString(*route, "name"), route,
                   routeStatus(*route, parents, diags, routes, controller, now)});
  }
  // Our Gateways, each read once: the pool allocation needs all of them first.
  std::vector<std::pair<const ObjectPtr*, GatewayModel>> ours;
  std::vector<const json*> accepted;
  for (const auto& [key, gateway] : snapshot.objects(Kind::Gateway)) {
    GatewayModel gw = readGateway(*gateway, index);
    if (!isOurGatewayClass(index, gw.className, controller)) continue;
    if (!gw.notAccepted) accepted.push_back(gateway.get());
    ours.emplace_back(&gateway, std::move(gw));
  }
  const GatewayAddressPool& pool = options.gatewayAddresses;
  const std::map<std::string, std::string> allocated =
      pool.empty() ? std::map<std::string, std::string>{} : allocateGatewayAddresses(accepted, pool);
  for (const auto& [object, gw] : ours) {
    const ObjectPtr& gateway = *object;
    json own = addresses;
    std::optional<GatewayCondition> notProgrammed;
    if (!pool.empty()) {
      // Its own address: written first, served once render sees it in the status.
      auto it = allocated.find(gw.ns + "/" + gw.name);
      own = json::array();
      if (it == allocated.end()) {
        notProgrammed = GatewayCondition{"Programmed", false, "AddressNotAssigned",
                                         "every address of the --gateway-addresses pool is taken"};
      } else {
        own.push_back({{"type", "IPAddress"}, {"value", it->second}});
        if (publishedGatewayAddress(*gateway, pool) != it->second) {
          notProgrammed = GatewayCondition{"Programmed", false, "Pending", "address " + it->second + " is being published"};
        }
      }
    }
    out.push_back({Kind::Gateway, gw.ns, gw.name, gateway,
                   gatewayStatus(*gateway, gw, attached, published, own, notProgrammed, now)});
  }
  return out;
}

json withoutTransitionTimes(json status) {
  if (status.is_object()) {
    status.erase("lastTransitionTime");
    for (auto& [k, v] : status.items()) v = withoutTransitionTimes(std::move(v));
  } else if (status.is_array()) {
    for (auto& v : status) v = withoutTransitionTimes(std::move(v));
  }
  return status;
}

}  // namespace portico::controller
