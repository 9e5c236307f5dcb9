// Gateway API to routes: HTTPRoutes (gateway.networking.k8s.io/v1) attached to Gateways of
// our GatewayClasses, and the certificates of those Gateways' HTTPS listeners. Internal to
// render; the model (classes, listeners, attachment) is gateway_api.h.
//
// An HTTPRoute renders when at least one parentRef is Accepted (gateway_api.h:
// attachParents); its routes are served for the union of the hostnames its accepted
// listeners intersect (every host when one of them leaves it on every host). Each rule's
// match (or one PathPrefix "/" match when there are none) is one route named
// "namespace/name/rule<i>.match<j>" ('.' keeps it apart from APIRoute rule names and
// Ingress route names). A rule with an unsupported or invalid part is left out with an
// Accepted diagnostic (reason UnsupportedValue or the schema's); a backendRef that does not
// resolve is left out of its rule with a ResolvedRefs diagnostic (BackendNotFound,
// RefNotPermitted, InvalidKind); weight 0 backends take no traffic.
#pragma once

#include <optional>
#include <vector>

#include "controller/render/render.h"
#include "controller/render/render_context.h"

namespace portico::controller {

std::optional<ObjectOutput> renderHttpRoute(const OrderedObject& object, const ObjectIndex& index,
                                            const RenderOptions& options, std::vector<Diagnostic>& diagnostics);

// The diagnostics of an HTTPRoute's rules whether or not a parent accepts it (the status
// reports ResolvedRefs and unsupported values for every parent of ours). Returns how many
// routes its rules give (0: no rule is usable).
size_t httpRouteRuleDiagnostics(const OrderedObject& object, const ObjectIndex& index, const RenderOptions& options,
                              std::vector<Diagnostic>& diagnostics);

// A Gateway of one of our classes: the certificates of its usable HTTPS listeners (no routes).
std::optional<ObjectOutput> renderGateway(const OrderedObject& object, const ObjectIndex& index,
                                          const RenderOptions& options);

// Every HTTPRoute and Gateway of `routes` / `gateways`, in creation order, as the full render
// merges them.
void renderGatewayApi(const std::vector<const nlohmann::json*>& gateways,
                      const std::vector<const nlohmann::json*>& routes, const ObjectIndex& index,
                      const RenderOptions& options, std::vector<ObjectOutput>& outputs,
                      std::vector<Diagnostic>& diagnostics);

}  // namespace portico::controller
