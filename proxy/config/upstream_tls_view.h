// The JSON view of an upstream's TLS settings, for /routes and the controller's spec views:
// where the CA and the client certificate came from, never their contents.
#pragma once

#include <nlohmann/json_fwd.hpp>

#include "proxy/config/route_spec.h"

namespace portico::proxy {

// null for a plaintext backend.
nlohmann::ordered_json upstreamTlsView(const std::optional<UpstreamTlsSpec>& tls);

}  // namespace portico::proxy
