// The field descriptions (field_schema.h) of APIRoute rule policies: each field's JSON name,
// member, kind, bounds and default are written here once, and RulePolicyReader reads with
// them while spec_json prints with them. Internal to render.
#pragma once

#include <string>
#include <string_view>

#include "controller/render/field_schema.h"
#include "proxy/config/route_spec.h"

namespace portico::controller {

// rules[].loadBalancing: fills RouteSpec's loadBalancing, hashOn, sessionAffinity and
// panicThresholdPercent (no view: spec_json prints those route keys where they stand).
const Schema<proxy::RouteSpec>& loadBalancingSchema();
const Schema<proxy::SessionAffinitySpec>& sessionAffinitySchema();  // loadBalancing.sessionAffinity
const Schema<proxy::Timeouts>& timeoutsSchema();                    // rules[].timeouts
const Schema<proxy::RedirectSpec>& redirectSchema();                // rules[].redirect
const Schema<proxy::RetrySpec>& retriesSchema();                        // rules[].retries
const Schema<proxy::HealthCheckSpec>& healthCheckSchema();              // rules[].healthCheck
const Schema<proxy::OutlierDetectionSpec>& outlierDetectionSchema();    // rules[].outlierDetection
const Schema<proxy::CircuitBreakerSpec>& circuitBreakerSchema();        // rules[].circuitBreaker

// A path a request can carry as is: starts with '/', no spaces, control characters or '#'.
// "" if good, else the message (`"x" must start with '/' and ...`).
std::string checkRequestPath(std::string_view path);

}  // namespace portico::controller
