// The status Portico owes each Gateway API object, computed from a snapshot with the same
// model render serves from (gateway_api.h, httproute.h), so status and table agree. Pure:
// the status writer (controller/status/gateway_status_writer.h) compares and PATCHes.
//
//  - GatewayClass with spec.controllerName ours: Accepted True (False InvalidParameters with
//    a parametersRef: its Gateways are then not served), supportedFeatures.
//  - Gateway of such a class: Accepted (False UnsupportedAddress for spec.addresses, True
//    with reason ListenersNotValid when a listener is refused), Programmed (True once the
//    table is published and the Gateway is accepted), status.addresses (what Ingress
//    status.loadBalancer gets), and per listener supportedKinds, attachedRoutes and the
//    conditions Accepted, ResolvedRefs, Conflicted, Programmed.
//  - HTTPRoute: one status.parents[] entry per parentRef that names a Gateway of ours, with
//    Accepted (Accepted, NoMatchingParent, NotAllowedByListeners, NoMatchingListenerHostname,
//    UnsupportedValue) and ResolvedRefs (ResolvedRefs, BackendNotFound, RefNotPermitted,
//    InvalidKind). Parents written by other controllers are kept as they are.
// Every condition carries the object's metadata.generation as observedGeneration, and keeps
// its lastTransitionTime while its status does not change.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "controller/objects/object_snapshot.h"
#include "controller/render/render.h"

namespace portico::controller {

struct GatewayApiStatus {
  Kind kind = Kind::Gateway;
  std::string ns;
  std::string name;
  ObjectPtr object;       // as in the snapshot
  nlohmann::json status;  // the whole desired status (foreign parents included)
};

// The Gateway API features Portico implements (GatewayClass status.supportedFeatures), sorted.
const std::vector<std::string>& supportedGatewayFeatures();

// `addresses`: [{type: IPAddress|Hostname, value}] for every Gateway. `now`: RFC 3339 time
// for conditions that change. Objects whose status is already `status` are included too
// (the writer skips them); objects not ours are not.
std::vector<GatewayApiStatus> computeGatewayApiStatuses(const StoreSnapshot& snapshot, const RenderOptions& options,
                                                        bool published, const nlohmann::json& addresses,
                                                        const std::string& now);

// The same status without lastTransitionTime anywhere: what the writer compares.
nlohmann::json withoutTransitionTimes(nlohmann::json status);

}  // namespace portico::controller
