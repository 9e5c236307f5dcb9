// JSON views of render's output, for golden tests, determinism checks and debugging
// (`portico --config FILE` could print them). Keys are written in a fixed order.
#pragma once

#include <vector>

#include <nlohmann/json.hpp>

#include "controller/render/render.h"
#include "proxy/config/route_spec.h"

namespace portico::controller {

// Every field of the spec. Private keys are written only if includePrivateKeys; otherwise
// as "<redacted>". Gateway secret material (API keys, htpasswd hashes, inline JWKS) is
// never written, whatever the flag: consumer and user names, key ids and a "sha256:..."
// fingerprint stand for it.
nlohmann::ordered_json toJson(const proxy::RouteTableSpec& table, bool includePrivateKeys = false);
nlohmann::ordered_json toJson(const proxy::SharedRouteTableSpec& table, bool includePrivateKeys = false);

nlohmann::ordered_json toJson(const std::vector<Diagnostic>& diagnostics);

}  // namespace portico::controller
