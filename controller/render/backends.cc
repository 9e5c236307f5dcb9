#include "controller/render/backends.h"

#include <arpa/inet.h>

#include <charconv>
#include <set>
#include <utility>

#include "controller/render/validation.h"

namespace portico::controller {
namespace {

using nlohmann::json;

bool isIpv4(const std::string& s) {
  in_addr a{};
  return inet_pton(AF_INET, s.c_str(), &a) == 1;
}

bool isIpv6(const std::string& s) {
  in6_addr a{};
  return inet_pton(AF_INET6, s.c_str(), &a) == 1;
}

std::optional<uint16_t> parsePort(std::string_view s) {
  if (s.empty() || s.size() > 5) return std::nullopt;
  unsigned value = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (ec != std::errc() || ptr != s.data() + s.size() || value == 0 || value > 65535) {
    return std::nullopt;
  }
  return static_cast<uint16_t>(value);
}

// A JSON integer that fits a port number (1..65535).
std::optional<uint16_t> jsonPort(const json* v) {
  if (!v || !v->is_number_integer()) return std::nullopt;
  int64_t n = v->get<int64_t>();
  if (n < 1 || n > 65535) return std::nullopt;
  return static_cast<uint16_t>(n);
}

std::string jsonString(const json& object, std::string_view key) {
  const json* v = member(object, key);
  return v && v->is_string() ? v->get<std::string>() : std::string();
}

}  // namespace

Expected<proxy::BackendSpec> urlBackend(std::string_view url) {
  bool tls = false;
  std::string_view rest;
  if (url.starts_with("http://")) {
    rest = url.substr(7);
  } else if (url.starts_with("https://")) {
    tls = true;
    rest = url.substr(8);
  } else {
    return makeError("must start with http:// or https://");
  }
  if (rest.find_first_of("?#") != std::string_view::npos) {
    return makeError("must not have a query or fragment");
  }
  if (rest.find('@') != std::string_view::npos) return makeError("must not have user info");
  size_t slash = rest.find('/');
  if (slash != std::string_view::npos) {
    if (slash + 1 != rest.size()) return makeError("must not have a path");
    rest = rest.substr(0, slash);
  }
  std::string host;
  std::string_view portText;
  bool bracketed = false;
  if (rest.starts_with("[")) {
    size_t close = rest.find(']');
    if (close == std::string_view::npos) return makeError("unterminated IPv6 address");
    host = std::string(rest.substr(1, close - 1));
    if (!isIpv6(host)) return makeError("invalid IPv6 address \"" + host + "\"");
    bracketed = true;
    std::string_view after = rest.substr(close + 1);
    if (!after.empty()) {
      if (after[0] != ':') return makeError("invalid host");
      portText = after.substr(1);
      if (portText.empty()) return makeError("empty port");
    }
  } else {
    size_t colon = rest.find(':');
    host = toLower(rest.substr(0, colon));
    if (colon != std::string_view::npos) {
      portText = rest.substr(colon + 1);
      if (portText.empty()) return makeError("empty port");
    }
    if (host.empty()) return makeError("missing host");
    if (!isIpv4(host) && !isDnsSubdomain(host)) {
      return makeError("invalid host \"" + host + "\"");
    }
  }
  uint16_t port = tls ? 443 : 80;
  if (!portText.empty()) {
    auto p = parsePort(portText);
    if (!p) return makeError("invalid port \"" + std::string(portText) + "\"");
    port = *p;
  }
  proxy::BackendSpec backend;
  if (tls) backend.tls = proxy::UpstreamTlsSpec{.serverName = host};  // verified, system trust store
  backend.key = std::string("url:") + (tls ? "https://" : "http://") +
                (bracketed ? "[" + host + "]" : host) + ":" + std::to_string(port);
  backend.endpoints.push_back(proxy::EndpointSpec{host, port, 1});
  return backend;
}

Expected<proxy::BackendSpec> tcpUrlBackend(std::string_view url) {
  if (!url.starts_with("tcp://")) return makeError("must start with tcp:// (the backend of a TCP route)");
  const std::string_view rest = url.substr(6);
  const size_t colon = rest.rfind(':');
  const size_t bracket = rest.rfind(']');
  if (colon == std::string_view::npos || (bracket != std::string_view::npos && colon < bracket))
    return makeError("needs a port (tcp://host:port)");
  auto backend = urlBackend("http://" + std::string(rest));
  if (!backend) return backend;
  backend->key = "url:tcp://" + backend->key.substr(std::string_view("url:http://").size());
  return backend;
}

Expected<proxy::BackendSpec> resolveServiceBackend(const ObjectIndex& index, const std::string& ns,
                                                   const std::string& service,
                                                   const ServicePortRef& port) {
  std::string ref = "service \"" + ns + "/" + service + "\"";
  const json* svc = index.service(ns, service);
  if (!svc) return makeError(ref + " not found");
  const json* spec = member(*svc, "spec");
  if (!spec || !spec->is_object()) return makeError(ref + " has no spec");
  if (jsonString(*spec, "type") == "ExternalName") {
    return makeError(ref + " is of type ExternalName, which is not supported");
  }

  // The Service port: by number (spec.ports[].port) or by name.
  const json* ports = member(*spec, "ports");
  std::optional<uint16_t> servicePort;
  std::string portName;
  if (ports && ports->is_array()) {
    for (const auto& p : *ports) {
      if (!p.is_object()) continue;
      std::string protocol = jsonString(p, "protocol");
      if (!protocol.empty() && protocol != "TCP") continue;
      auto number = jsonPort(member(p, "port"));
      if (!number) continue;
      std::string name = jsonString(p, "name");
      if (port.number ? *number == *port.number : name == port.name) {
        servicePort = number;
        portName = name;
        break;
      }
    }
  }
  if (!servicePort) {
    return makeError(ref + " has no TCP port " + (port.number ? "" : "named ") + port.toString());
  }

  // Endpoints from every slice of the Service, matched on the port name.
  std::set<std::pair<std::string, uint16_t>> endpoints;
  for (const json* slice : index.endpointSlices(ns, service)) {
    std::optional<uint16_t> slicePort;
    if (const json* slicePorts = member(*slice, "ports"); slicePorts && slicePorts->is_array()) {
      for (const auto& p : *slicePorts) {
        if (!p.is_object() || jsonString(p, "name") != portName) continue;
        std::string protocol = jsonString(p, "protocol");
        if (!protocol.empty() && protocol != "TCP") continue;
        slicePort = jsonPort(member(p, "port"));
        break;
      }
    }
    if (!slicePort) continue;
    const json* eps = member(*slice, "endpoints");
    if (!eps || !eps->is_array()) continue;
    for (const auto& ep : *eps) {
      if (!ep.is_object()) continue;
      if (const json* conditions = member(ep, "conditions"); conditions && conditions->is_object()) {
        const json* ready = member(*conditions, "ready");  // nil means ready
        if (ready && ready->is_boolean() && !ready->get<bool>()) continue;
        const json* terminating = member(*conditions, "terminating");
        if (terminating && terminating->is_boolean() && terminating->get<bool>()) continue;
      }
      const json* addresses = member(ep, "addresses");
      if (!addresses || !addresses->is_array()) continue;
      for (const auto& a : *addresses) {
        if (a.is_string() && !a.get_ref<const std::string&>().empty()) {
          endpoints.emplace(a.get<std::string>(), *slicePort);
        }
      }
    }
  }

  proxy::BackendSpec backend;
  backend.key = ns + "/" + service + ":" + std::to_string(*servicePort);
  for (const auto& [host, p] : endpoints) {
    backend.endpoints.push_back(proxy::EndpointSpec{host, p, 1});
  }
  return backend;
}

}  // namespace portico::controller
