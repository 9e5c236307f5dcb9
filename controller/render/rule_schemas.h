// The field descriptions (field_schema.h) of APIRoute rule policies: each field's JSON name,
// member, kind, bounds and default are written here once, and RulePolicyReader reads with
// them while spec_json prints with them. Internal to render.
#pragma once

#include <string>
#include <string_view>

#include "controller/render/field_schema.h"
#include "proxy/config/route_spec.h"

namespace portico::controller {

const Schema<proxy::HeaderMatch>& headerMatchSchema();  // rules[].match.headers[]
const Schema<proxy::QueryMatch>& queryMatchSchema();    // rules[].match.query[]
// rules[].loadBalancing: fills RouteSpec's loadBalancing, hashOn, sessionAffinity and
// panicThresholdPercent (no view: spec_json prints those route keys where they stand).
const Schema<proxy::RouteSpec>& loadBalancingSchema();
const Schema<proxy::SessionAffinitySpec>& sessionAffinitySchema();  // loadBalancing.sessionAffinity
const Schema<proxy::Timeouts>& timeoutsSchema();                    // rules[].timeouts
const Schema<proxy::RedirectSpec>& redirectSchema();                // rules[].redirect
// rules[].rewrite: fills RouteSpec's rewritePathPrefix (judged by the route's pathType, so
// read after match), rewritePathRegex and rewriteHost. pathPrefix and regex exclude each
// other: ApiRouteTranslator refuses both before reading. No view (route keys).
const Schema<proxy::RouteSpec>& rewriteSchema();
const Schema<proxy::RegexRewriteSpec>& regexRewriteSchema();  // rewrite.regex
const Schema<proxy::HeaderEdits>& headerEditsSchema();  // rules[].requestHeaders, responseHeaders
const Schema<proxy::RouteSpec>& limitsSchema();         // rules[].limits (no view: route keys)
const Schema<proxy::IpRulesSpec>& ipRulesSchema();                  // rules[].ipRules
const Schema<proxy::CorsSpec>& corsSchema();                        // rules[].cors
// rules[].rateLimit. The key's dependence on the rule's auth is checked by its reader.
const Schema<proxy::RateLimitSpec>& rateLimitSchema();
// rules[].auth.<method>: the fields that need no Secret (secretName is known, read by
// RulePolicyReader with the ObjectIndex); jwksURI and secretName exclude each other there.
const Schema<proxy::ApiKeyAuthSpec>& apiKeyAuthSchema();
const Schema<proxy::BasicAuthSpec>& basicAuthSchema();
const Schema<proxy::JwtAuthSpec>& jwtAuthSchema();
const Schema<proxy::ExternalAuthSpec>& externalAuthSchema();
const Schema<proxy::RetrySpec>& retriesSchema();                        // rules[].retries
const Schema<proxy::HealthCheckSpec>& healthCheckSchema();              // rules[].healthCheck
const Schema<proxy::OutlierDetectionSpec>& outlierDetectionSchema();    // rules[].outlierDetection
const Schema<proxy::CircuitBreakerSpec>& circuitBreakerSchema();        // rules[].circuitBreaker

// A path a request can carry as is: starts with '/', no spaces, control characters or '#'.
// "" if good, else the message (`"x" must start with '/' and ...`).
std::string checkRequestPath(std::string_view path);

}  // namespace portico::controller
