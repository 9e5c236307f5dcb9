// Where a route's external-auth requests go, resolved once per route per worker (with the
// route's other runtime, table_runtime.h) instead of per request: the parsed URL, the TLS
// context of an https URL and the backend state its connections are counted in.
// Internal to the proxy.
#pragma once

#include <memory>
#include <string>

#include "proxy/config/route_spec.h"
#include "proxy/upstream/http_fetch.h"
#include "proxy/upstream/upstream_state.h"

namespace portico::proxy {

class UpstreamTls;

struct ExternalAuthTarget {
  HttpUrl url;
  EndpointSpec endpoint;
  std::string address;               // endpoint.address(): the pool key
  std::shared_ptr<UpstreamTls> tls;  // https: ExternalAuthSpec::tls, or the system store for the host
  BackendStatePtr backend;           // "auth:<url>"
  std::string error;                 // not empty: unusable (bad URL, TLS settings that do not load)
};

ExternalAuthTarget resolveExternalAuth(const ExternalAuthSpec& spec, UpstreamRegistry& registry);

}  // namespace portico::proxy
