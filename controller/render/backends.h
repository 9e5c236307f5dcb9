// Backends: static urls, and Kubernetes Services resolved through their EndpointSlices.
// Shared by the APIRoute translator and (later) the Ingress translator.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "controller/render/render_context.h"
#include "proxy/common/expected.h"
#include "proxy/config/route_spec.h"

namespace portico::controller {

// "http://host[:port]" or "https://host[:port]" (port default 80/443; host a DNS name, an
// IPv4 address or a bracketed IPv6 address; no user info, path, query or fragment; a lone
// trailing '/' is accepted). Gives key "url:<scheme>://<host>:<port>" (port always
// written, so "http://a" and "http://a:80" are one backend), tls for https, and one
// endpoint of weight 1. The error text is the reason only.
[[nodiscard]] Expected<proxy::BackendSpec> urlBackend(std::string_view url);
// "tcp://host:port" (the port is required): a TCP route's url backend, keyed "url:tcp://...".
[[nodiscard]] Expected<proxy::BackendSpec> tcpUrlBackend(std::string_view url);

// A Service port as a route names it: by number or by name.
struct ServicePortRef {
  std::optional<uint16_t> number;
  std::string name;  // used when number is empty
  std::string toString() const { return number ? std::to_string(*number) : "\"" + name + "\""; }
};

// Resolves `ns/service` port `port`: finds the Service port (TCP only), then every ready,
// non-terminating endpoint address of the Service's EndpointSlices whose port has the same
// name as the Service port. Key "ns/service:<service port number>", whichever way the port
// was named, so both spellings share runtime state. Endpoints are sorted and unique; a
// Service with no ready endpoints gives a backend with no endpoints (not an error: it is
// normal while pods start). Fails (text only) when the Service or its port does not exist
// or the Service is of type ExternalName.
[[nodiscard]] Expected<proxy::BackendSpec> resolveServiceBackend(const ObjectIndex& index,
                                                                 const std::string& ns,
                                                                 const std::string& service,
                                                                 const ServicePortRef& port);

}  // namespace portico::controller
