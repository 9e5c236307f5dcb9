// The Gateway API model shared by the HTTPRoute translator (httproute.cc), the Gateway's
// certificates and the status computation (gateway_status.cc): which GatewayClasses are
// ours, a Gateway's listeners with their conditions, ReferenceGrants, namespace selectors,
// hostname intersection and how an HTTPRoute's parentRefs attach to listeners. One
// implementation, so what render serves and what status says cannot disagree.
// Internal to render; pure (lookups go through ObjectIndex, which records dependencies).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "controller/render/render_context.h"

namespace portico::controller {

inline constexpr std::string_view kGatewayGroup = "gateway.networking.k8s.io";

// Null-safe JSON lookups the Gateway API readers share: null / "" when a level is absent.
namespace gwjson {
const nlohmann::json* at(const nlohmann::json* object, std::string_view key);
std::string str(const nlohmann::json* object, std::string_view key);
std::string strOr(const nlohmann::json* object, std::string_view key, std::string fallback);
}  // namespace gwjson

// One condition as the Gateway API writes it (status, reason, message).
struct GatewayCondition {
  std::string type;
  bool status = true;
  std::string reason;
  std::string message;
};

struct ListenerModel {
  std::string name;
  std::string protocol;  // as written: HTTP, HTTPS (served), anything else is refused
  int64_t port = 0;
  std::string hostname;  // lower case; "" = any host
  enum class From { Same, All, Selector, None };
  From from = From::Same;
  const nlohmann::json* selector = nullptr;  // allowedRoutes.namespaces.selector (From::Selector)
  bool allowsHTTPRoute = true;               // allowedRoutes.kinds lists it (or is absent)
  std::vector<std::string> supportedKinds;   // status.listeners[].supportedKinds (kind names)
  // Listener conditions (Accepted, ResolvedRefs, Conflicted); Programmed follows from them.
  GatewayCondition accepted{"Accepted", true, "Accepted", "Listener is accepted"};
  GatewayCondition resolvedRefs{"ResolvedRefs", true, "ResolvedRefs", "All references resolved"};
  GatewayCondition conflicted{"Conflicted", false, "NoConflicts", "No conflicts"};
  std::vector<proxy::CertificateSpec> certificates;  // HTTPS: the resolved certificateRefs
  // Routes may attach: accepted, certificates resolved, not conflicted. Unsupported route
  // kinds next to HTTPRoute in allowedRoutes.kinds do not stop HTTPRoutes (the spec's
  // InvalidRouteKinds keeps the valid kinds in supportedKinds).
  // Routes may attach (and are counted) to an accepted, unconflicted listener; it serves
  // them when its references resolve too (usable).
  bool attachable() const { return accepted.status && !conflicted.status; }
  bool usable() const {
    return accepted.status && (resolvedRefs.status || resolvedRefs.reason == "InvalidRouteKinds") &&
           !conflicted.status;
  }
};

struct GatewayModel {
  std::string ns;
  std::string name;
  std::string className;
  std::vector<ListenerModel> listeners;
  // Gateway-level problems (Accepted False): e.g. spec.addresses, which Portico cannot assign.
  std::optional<GatewayCondition> notAccepted;
};

// True if GatewayClass `className` exists, names `controllerName` and has no parametersRef
// (Portico takes no parameters; such a class is not Accepted, see gateway_status.h).
bool isOurGatewayClass(const ObjectIndex& index, const std::string& className, const std::string& controllerName);

// The Gateway's listeners with their conditions and certificates (Secrets resolved in the
// Gateway's namespace, or across namespaces through a ReferenceGrant).
GatewayModel readGateway(const nlohmann::json& gateway, const ObjectIndex& index);

// True if a ReferenceGrant in `toNs` lets (fromGroup, fromKind) objects in `fromNs` refer to
// the (toGroup, toKind) object `toName`.
bool referenceGranted(const ObjectIndex& index, std::string_view fromGroup, std::string_view fromKind,
                      const std::string& fromNs, std::string_view toGroup, std::string_view toKind,
                      const std::string& toNs, const std::string& toName);

// A metav1.LabelSelector (matchLabels, matchExpressions) against a label map (null: none).
bool labelsMatch(const nlohmann::json& selector, const nlohmann::json* labels);

// Gateway API hostname intersection of a listener's hostname ("" = any) and a route's
// hostnames (empty = any). nullopt: they do not intersect. Else the hosts the route is
// served for: an empty list means every host.
std::optional<std::vector<std::string>> intersectHostnames(const std::string& listener,
                                                           const std::vector<std::string>& route);

// How one parentRef of an HTTPRoute attaches.
struct ParentAttachment {
  nlohmann::json parentRef;  // as written (status.parents[].parentRef)
  bool ours = false;         // a Gateway of one of our classes: we own this parent's status
  std::string gatewayKey;    // "ns/name"
  bool accepted = false;
  std::string reason;   // Accepted reason: Accepted, NoMatchingParent, NotAllowedByListeners, ...
  std::string message;
  std::vector<std::string> listeners;  // names of the listeners it attached to (attachedRoutes)
  // What is served: only listeners that are programmed (an HTTPS listener whose
  // certificate does not resolve counts the route but serves nothing).
  bool served = false;
  std::vector<std::string> hosts;  // the union of intersected hostnames of served listeners; empty = any
  bool anyHost = false;            // some served listener left the route on every host
};

// Every parentRef of `route` (an HTTPRoute), in order.
std::vector<ParentAttachment> attachParents(const nlohmann::json& route, const ObjectIndex& index,
                                            const std::string& controllerName);

}  // namespace portico::controller
