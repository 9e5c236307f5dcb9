// The field descriptions (field_schema.h) of APIRoute rule policies: each field's JSON name,
// member, kind, bounds and default are written here once, and RulePolicyReader reads with
// them while spec_json prints with them. Internal to render.
#pragma once

#include <string>
#include <string_view>

#include "controller/render/field_schema.h"
#include "proxy/config/route_spec.h"

namespace portico::controller {

const Schema<proxy::RetrySpec>& retriesSchema();                        // rules[].retries
const Schema<proxy::HealthCheckSpec>& healthCheckSchema();              // rules[].healthCheck
const Schema<proxy::OutlierDetectionSpec>& outlierDetectionSchema();    // rules[].outlierDetection
const Schema<proxy::CircuitBreakerSpec>& circuitBreakerSchema();        // rules[].circuitBreaker

// A path a request can carry as is: starts with '/', no spaces, control characters or '#'.
// "" if good, else the message (`"x" must start with '/' and ...`).
std::string checkRequestPath(std::string_view path);

}  // namespace portico::controller
