// APIRoute spec.tcp: one layer-4 route (proxy::StreamSpec) per object.
//
// Why a section of APIRoute and not a kind of its own: a TCP or passthrough route needs
// what an APIRoute rule already has (backends by Service or url, loadBalancing,
// healthCheck, outlierDetection, and the status, Events, RBAC and file mode that come
// with the kind), and nothing that a rule has beyond those. A second kind would repeat
// all of it for a handful of fields. The section is exclusive: an APIRoute with spec.tcp
// has no rules and no tls, so one object is either HTTP or layer 4, never half of each.
//
//   spec:
//     hosts: [db.example.com]    # tlsPassthrough only: the ClientHello server names
//     tcp:
//       port: 5432               # a --tcp-ports listener; with tlsPassthrough the default
//                                # is the HTTPS listener
//       tlsPassthrough: true     # route by SNI, leave TLS to the backend
//       backends: [{service: pg, port: 5432}]   # or url: tcp://host:port (file mode)
//       loadBalancing: {policy: LeastRequest}   # open connections; ConsistentHash: client IP
//       healthCheck: {interval: 5s}             # a TCP connect; no path
//       outlierDetection: {consecutiveGatewayFailures: 3}
//       timeouts: {connect: 5s, idle: 1h}
//       maxConnections: 1000     # open at once, per Portico process
#include <algorithm>
#include <chrono>
#include <utility>

#include "controller/render/apiroute_translator.h"
#include "controller/render/field_path.h"
#include "controller/render/field_schema.h"
#include "controller/render/rule_policies.h"
#include "controller/render/tcp_schema.h"
#include "controller/render/validation.h"

namespace portico::controller {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

std::string portList(const std::vector<uint16_t>& ports) {
  std::string out;
  for (uint16_t port : ports) out += (out.empty() ? "" : ",") + std::to_string(port);
  return out.empty() ? "none" : out;
}

}  // namespace

const Schema<TcpTimeouts>& tcpTimeoutsSchema() {
  static const Schema<TcpTimeouts> schema{
      field::duration("connect", &TcpTimeouts::connect, {.min = 1ms}),
      field::duration("idle", &TcpTimeouts::idle, {.min = 1s}),
  };
  return schema;
}

const Schema<TcpFields>& tcpSchema() {
  static const Schema<TcpFields> schema{
      field::count("port", &TcpFields::port, {.min = 1, .max = 65535, .belowMin = "must be from 1 to 65535"}),
      field::boolean("tlsPassthrough", &TcpFields::tlsPassthrough),
      field::count("maxConnections", &TcpFields::maxConnections, {.max = 10'000'000}),
      field::object("timeouts", &TcpFields::timeouts, tcpTimeoutsSchema()),
      // Read by the rule readers below.
      field::known<TcpFields>("backends"),
      field::known<TcpFields>("loadBalancing"),
      field::known<TcpFields>("healthCheck"),
      field::known<TcpFields>("outlierDetection"),
  };
  return schema;
}

void ApiRouteTranslator::translateTcp(const json& spec, TableBuilder& table, std::vector<std::string>& routeFields) {
  const std::string field = "spec.tcp";
  const json* tcp = readObject(spec, "tcp", "spec", reporter_);
  if (!tcp) return;
  if (member(spec, "rules") || member(spec, "tls")) {
    reporter_.invalid(field, "InvalidField",
                      "cannot be combined with spec.rules or spec.tls: an APIRoute routes either HTTP requests "
                      "or layer-4 connections");
    return;
  }
  const size_t before = reporter_.count();
  TcpFields fields;
  tcpSchema().read(*tcp, field, fields, reporter_);

  proxy::StreamSpec stream;
  stream.maxConnections = fields.maxConnections;
  stream.idleTimeout = fields.timeouts.idle;
  if (fields.tlsPassthrough) {
    if (hosts_.empty())
      reporter_.invalid("spec.hosts", "InvalidField",
                        "required with tcp.tlsPassthrough: connections are routed by their TLS server name");
    stream.sniHosts = hosts_;
    stream.port = fields.port ? static_cast<uint16_t>(fields.port) : options_.httpsPort;
  } else {
    if (!hosts_.empty())
      reporter_.invalid("spec.hosts", "InvalidField",
                        "only used with tcp.tlsPassthrough (a plain TCP connection names no host)");
    if (!fields.port) reporter_.invalid(childField(field, "port"), "InvalidField", "required without tlsPassthrough");
    stream.port = static_cast<uint16_t>(fields.port);
  }
  const auto& tcpPorts = options_.tcpPorts;
  const bool listened = std::find(tcpPorts.begin(), tcpPorts.end(), stream.port) != tcpPorts.end() ||
                        (fields.tlsPassthrough && stream.port == options_.httpsPort && options_.httpsPort);
  if (stream.port && !listened) {
    reporter_.invalid(childField(field, "port"), "PortNotListened",
                      "port " + std::to_string(stream.port) + " is not a layer-4 listener of this Portico (--tcp-ports: " +
                          portList(tcpPorts) + "; TLS passthrough may also use the HTTPS port " +
                          std::to_string(options_.httpsPort) + ")");
  }

  proxy::RouteSpec route;
  route.name = ns_ + "/" + name_ + "/tcp";
  route.timeouts.connect = fields.timeouts.connect;
  RulePolicyReader policies(index_, ns_, reporter_);
  policies.readLoadBalancing(*tcp, field, route);
  if (route.sessionAffinity)
    reporter_.invalid(childField(childField(field, "loadBalancing"), "sessionAffinity"), "InvalidField",
                      "needs HTTP cookies; a TCP route can pin clients with policy ConsistentHash (client IP)");
  if (route.hashOn.source != proxy::HashSource::ClientIP)
    reporter_.invalid(childField(childField(field, "loadBalancing"), "hashOn"), "InvalidField",
                      "a TCP route can only hash the client IP");
  // Rule fields that mean nothing for a connection: refused rather than ignored.
  constexpr std::pair<const char*, const char*> kHttpOnly[] = {
      {"healthCheck", "path"}, {"healthCheck", "host"}, {"outlierDetection", "consecutive5xx"}};
  for (const auto& [object, name] : kHttpOnly) {
    const json* nested = member(*tcp, object);
    if (nested && nested->is_object() && member(*nested, name))
      reporter_.invalid(childField(childField(field, object), name), "InvalidField",
                        "not used by a TCP route (no HTTP: a health check is a TCP connect, a failure a refused "
                        "or timed-out connect)");
  }
  policies.readHealthCheck(*tcp, field, route);
  if (route.healthCheck) route.healthCheck->connectOnly = true;
  policies.readOutlierDetection(*tcp, field, route);
  if (reporter_.count() != before) return;

  // Backends last: their ResolvedRefs problems do not reject the route.
  layer4_ = true;
  const bool backendsOk = readBackends(*tcp, field, route);
  layer4_ = false;
  if (!backendsOk) return;
  route.stream = std::move(stream);
  table.addRoute(std::move(route));
  routeFields = {field};
}

}  // namespace portico::controller
