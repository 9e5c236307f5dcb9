// render: the pure translation from a snapshot of Kubernetes-shaped objects to the
// proxy's RouteTableSpec plus per-object diagnostics. No I/O, no clock, no globals:
// the same snapshot always gives a byte-identical result. Both the Kubernetes
// controller and the standalone file source call it.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "controller/render/gateway_addresses.h"
#include "controller/objects/object_snapshot.h"
#include "proxy/config/route_spec.h"

namespace portico::controller {

struct ObjectRef {
  std::string kind;
  std::string ns;
  std::string name;
  std::string toString() const { return kind + " " + (ns.empty() ? "" : ns + "/") + name; }
  bool operator==(const ObjectRef&) const = default;
};

// One finding about one object: which status condition it affects and why.
struct Diagnostic {
  ObjectRef object;
  std::string field;      // JSON path in the object, e.g. "spec.rules[0].backends[1].port"
  std::string condition;  // "Accepted" or "ResolvedRefs"
  std::string reason;     // CamelCase, e.g. "InvalidRegex", "BackendNotFound"
  std::string message;    // "spec.rules[0].match.path.value: invalid RE2: missing )"
  bool operator==(const Diagnostic&) const = default;
};

struct RenderOptions {
  std::string ingressClass = "portico";
  std::string controllerName = "portico.dev/ingress-controller";
  // GatewayClass spec.controllerName that makes a class (and its Gateways) ours.
  std::string gatewayControllerName = "portico.dev/gateway-controller";
  // Not empty: each Gateway gets an address of its own from this pool, and its routes
  // answer only there (gateway_addresses.h).
  GatewayAddressPool gatewayAddresses;
  bool standalone = false;  // url: backends allowed; Service backends need a cluster
  // The data plane's listeners that layer-4 routes (APIRoute spec.tcp) may name.
  uint16_t httpsPort = 8443;    // 0: none
  std::vector<uint16_t> tcpPorts;
};

// What a render says besides the table (what the status writer needs).
struct RenderReport {
  std::vector<Diagnostic> diagnostics;  // empty when every object rendered cleanly
  // Every Ingress of our class that was not rejected as a whole (it may have rendered only
  // partly, or lost all its paths to conflicts), oldest first: the Ingresses whose
  // status.loadBalancer the status writer sets. Kind "Ingress".
  std::vector<ObjectRef> ownedIngresses;
  // Every APIRoute with at least one route in the table (after conflicts), oldest first.
  std::vector<ObjectRef> routedAPIRoutes;
};

struct RenderResult : RenderReport {
  proxy::RouteTableSpec table;
};

// The incremental renderer's result: routes are shared objects kept across renders
// (controller/render/incremental.h).
struct SharedRenderResult : RenderReport {
  proxy::SharedRouteTableSpec table;
};

RenderResult render(const ObjectSnapshot& objects, const RenderOptions& options);
// The same over the store's shared objects (a full render; IncrementalRenderer in
// controller/render/incremental.h gives byte-identical results re-rendering only changes).
RenderResult render(const StoreSnapshot& objects, const RenderOptions& options);

}  // namespace portico::controller
