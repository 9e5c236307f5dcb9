// Passive outlier detection: live responses feed per-endpoint counters; enough consecutive
// 5xx answers or gateway failures (connect failure, reset, timeout) eject the endpoint
// for baseEjectionTime x (number of its ejections), capped at maxEjectionTime. An
// ejection is refused when it would take more than maxEjectionPercent of the backend's
// endpoints out (at least one may always go). State lives in the shared EndpointState,
// so every worker sees an ejection at once and a table swap keeps it.
#pragma once

#include <vector>

#include "proxy/config/route_spec.h"
#include "proxy/upstream/upstream_state.h"

namespace portico::proxy {

enum class UpstreamOutcome { Success, ServerError, GatewayFailure };

// Any worker. `peers` are the endpoints of the backend `endpoint` belongs to. Returns true
// when this outcome ejected the endpoint.
bool recordOutcome(const OutlierDetectionSpec& spec, EndpointState& endpoint, BackendState& backend,
                   const std::vector<EndpointStatePtr>& peers, UpstreamOutcome outcome, int64_t now);

}  // namespace portico::proxy
