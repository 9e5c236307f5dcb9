#include "proxy/config/route_table.h"

#include <nlohmann/json.hpp>

#include <string_view>
#include <unordered_map>

#include "proxy/config/upstream_tls_view.h"
#include "proxy/router/host_set.h"
#include "proxy/router/route_index.h"

namespace portico::proxy {
namespace {

using nlohmann::json;

void lowerAll(std::vector<std::string>& hosts) {
  for (std::string& host : hosts) host = router::toLowerAscii(host);
}

const char* toString(PathMatchType type) {
  switch (type) {
    case PathMatchType::Exact:
      return "Exact";
    case PathMatchType::Prefix:
      return "Prefix";
    case PathMatchType::RegularExpression:
      return "RegularExpression";
  }
  return "Unknown";
}

const char* toString(HeaderMatchType type) {
  switch (type) {
    case HeaderMatchType::Exact:
      return "Exact";
    case HeaderMatchType::RegularExpression:
      return "RegularExpression";
    case HeaderMatchType::Present:
      return "Present";
  }
  return "Unknown";
}

const char* toString(LoadBalancingPolicy policy) {
  switch (policy) {
    case LoadBalancingPolicy::RoundRobin:
      return "RoundRobin";
    case LoadBalancingPolicy::LeastRequest:
      return "LeastRequest";
    case LoadBalancingPolicy::Random:
      return "Random";
    case LoadBalancingPolicy::ConsistentHash:
      return "ConsistentHash";
  }
  return "Unknown";
}

json pairsJson(const std::vector<std::pair<std::string, std::string>>& pairs) {
  json out = json::array();
  for (const auto& [name, value] : pairs) out.push_back({{"name", name}, {"value", value}});
  return out;
}

json headerEditsJson(const HeaderEdits& edits) {
  return {{"set", pairsJson(edits.set)}, {"add", pairsJson(edits.add)}, {"remove", edits.remove}};
}

json optionalJson(const std::optional<std::string>& value) {
  return value ? json(*value) : json(nullptr);
}

// What the admin sees of a rule's policies: their settings, never secret material (keys,
// hashes and JWKS appear as counts).
json policiesJson(const RouteSpec& spec) {
  json out = json::object();
  if (spec.retries)
    out["retries"] = {{"attempts", spec.retries->attempts}, {"perTryTimeoutMs", spec.retries->perTryTimeout.count()},
                      {"statuses", spec.retries->onStatuses}, {"budgetPercent", spec.retries->budgetPercent}};
  if (spec.healthCheck)
    out["healthCheck"] = {{"path", spec.healthCheck->path}, {"intervalMs", spec.healthCheck->interval.count()}};
  if (spec.outlierDetection)
    out["outlierDetection"] = {{"consecutive5xx", spec.outlierDetection->consecutive5xx},
                               {"consecutiveGatewayFailures", spec.outlierDetection->consecutiveGatewayFailures},
                               {"baseEjectionTimeMs", spec.outlierDetection->baseEjectionTime.count()}};
  if (!spec.circuitBreaker.empty())
    out["circuitBreaker"] = {{"maxConnections", spec.circuitBreaker.maxConnections},
                             {"maxPendingRequests", spec.circuitBreaker.maxPendingRequests},
                             {"maxRequests", spec.circuitBreaker.maxRequests}};
  if (spec.sessionAffinity) out["sessionAffinity"] = {{"cookieName", spec.sessionAffinity->cookieName}};
  if (!spec.ipRules.empty()) out["ipRules"] = {{"allow", spec.ipRules.allow}, {"deny", spec.ipRules.deny}};
  if (spec.cors) out["cors"] = {{"allowOrigins", spec.cors->allowOrigins}};
  if (spec.auth.apiKey) out["auth"] = {{"apiKey", {{"consumers", spec.auth.apiKey->keys.size()}}}};
  if (spec.auth.basic) out["auth"] = {{"basic", {{"realm", spec.auth.basic->realm}}}};
  if (spec.auth.jwt)
    out["auth"] = {{"jwt", {{"issuer", spec.auth.jwt->issuer}, {"jwksURI", spec.auth.jwt->jwksUri}}}};
  if (spec.auth.external) out["auth"] = {{"external", {{"url", spec.auth.external->url}}}};
  if (spec.rateLimit)
    out["rateLimit"] = {{"requests", spec.rateLimit->requests}, {"periodMs", spec.rateLimit->period.count()},
                        {"burst", spec.rateLimit->burst}, {"global", spec.rateLimit->global}};
  if (spec.redirect) out["redirect"] = {{"status", spec.redirect->status}};
  if (spec.rewritePathRegex) out["rewriteRegex"] = spec.rewritePathRegex->pattern;
  return out;
}

json streamJson(const std::optional<StreamSpec>& stream) {
  if (!stream) return nullptr;
  return {{"port", stream->port},
          {"sniHosts", stream->sniHosts},
          {"idleTimeoutMs", stream->idleTimeout.count()},
          {"maxConnections", stream->maxConnections}};
}

json routeJson(const Route& route) {
  const RouteSpec& spec = route.spec;
  json headers = json::array();
  for (const HeaderMatch& h : spec.headers) {
    json header = {{"name", h.name}, {"type", toString(h.type)}};
    if (h.type != HeaderMatchType::Present) header["value"] = h.value;
    headers.push_back(std::move(header));
  }
  json query = json::array();
  for (const QueryMatch& q : spec.query) query.push_back({{"name", q.name}, {"value", q.value}});
  json backends = json::array();
  for (const BackendSpec& b : spec.backends) {
    json endpoints = json::array();
    for (const EndpointSpec& e : b.endpoints) {
      endpoints.push_back({{"address", e.address()}, {"weight", e.weight}});
    }
    backends.push_back({{"key", b.key},
                        {"weight", b.weight},
                        {"tls", upstreamTlsView(b.tls)},
                        {"endpoints", std::move(endpoints)}});
  }
  return {
      {"name", spec.name},
      {"index", route.index},
      {"hosts", spec.hosts},
      {"path", {{"type", toString(spec.pathType)}, {"value", spec.path}}},
      {"methods", spec.methods},
      {"headers", std::move(headers)},
      {"query", std::move(query)},
      {"backends", std::move(backends)},
      {"loadBalancing", toString(spec.loadBalancing)},
      {"timeouts",
       {{"connectMs", spec.timeouts.connect.count()},
        {"requestMs", spec.timeouts.request.count()},
        {"idleMs", spec.timeouts.idle.count()}}},
      {"rewrite",
       {{"pathPrefix", optionalJson(spec.rewritePathPrefix)},
        {"host", optionalJson(spec.rewriteHost)}}},
      {"requestHeaders", headerEditsJson(spec.requestHeaders)},
      {"responseHeaders", headerEditsJson(spec.responseHeaders)},
      {"maxRequestBodyBytes", spec.maxRequestBodyBytes},
      {"policies", policiesJson(spec)},
      {"stream", streamJson(spec.stream)},
  };
}

}  // namespace

// Finds, for each new route, the previous table's route of the same name if its spec is
// equal, and hands each previous route out at most once (so no two routes of the new
// table share a spec object, even with duplicate names). Tables are usually rebuilt in the
// same order, so the route at the same position is tried first; a name map is built only
// when that guess fails.
class RouteTable::PreviousRoutes {
 public:
  explicit PreviousRoutes(const RouteTable* previous) : previous_(previous) {
    if (previous_) taken_.assign(previous_->routes_.size(), false);
  }

  // The previous index whose spec object `route` can take over, or kNoPrevious.
  size_t take(const RouteSpecConstSharedPtr& route, size_t position) {
    if (!previous_) return Route::kNoPrevious;
    const std::vector<Route>& routes = previous_->routes_;
    size_t j = Route::kNoPrevious;
    if (position < routes.size() && routes[position].spec.name == route->name) {
      j = position;
    } else {
      if (byName_.empty()) {
        byName_.reserve(routes.size());
        for (const Route& r : routes) byName_.emplace(r.spec.name, r.index);  // the first of a name wins
      }
      if (auto it = byName_.find(route->name); it != byName_.end()) j = it->second;
    }
    if (j == Route::kNoPrevious || taken_[j]) return Route::kNoPrevious;
    // The same object (kept between renders) is equal without comparing it.
    if (routes[j].sharedSpec() != route && !(routes[j].spec == *route)) return Route::kNoPrevious;
    taken_[j] = true;
    return j;
  }

 private:
  const RouteTable* previous_;
  std::vector<bool> taken_;
  std::unordered_map<std::string_view, size_t> byName_;
};

RouteSpecConstSharedPtr shareRoute(RouteSpec route) {
  lowerAll(route.hosts);
  return std::make_shared<const RouteSpec>(std::move(route));
}

SharedRouteTableSpec shareRoutes(RouteTableSpec spec) {
  SharedRouteTableSpec shared;
  shared.routes.reserve(spec.routes.size());
  for (RouteSpec& route : spec.routes) shared.routes.push_back(shareRoute(std::move(route)));
  shared.certificates = std::move(spec.certificates);
  shared.httpsRedirectHosts = std::move(spec.httpsRedirectHosts);
  return shared;
}

Expected<RouteTableConstSharedPtr> RouteTable::build(RouteTableSpec spec, uint64_t version,
                                                     const RouteTable* previous) {
  return build(shareRoutes(std::move(spec)), version, previous);
}

Expected<RouteTableConstSharedPtr> RouteTable::build(SharedRouteTableSpec spec, uint64_t version,
                                                     const RouteTable* previous) {
  for (const CertificateSpec& certificate : spec.certificates) {
    if (certificate.certificatePem.empty()) {
      return makeError("certificate \"" + certificate.name + "\": certificatePem: empty");
    }
    if (certificate.privateKeyPem.empty()) {
      return makeError("certificate \"" + certificate.name + "\": privateKeyPem: empty");
    }
  }

  std::shared_ptr<RouteTable> table(new RouteTable());
  table->version_ = version;
  table->previousVersion_ = previous ? previous->version() : 0;
  PreviousRoutes before(previous);
  table->routes_.reserve(spec.routes.size());
  for (size_t i = 0; i < spec.routes.size(); ++i) {
    RouteSpecConstSharedPtr& route = spec.routes[i];
    const size_t j = before.take(route, i);
    if (j != Route::kNoPrevious) {
      table->routes_.emplace_back(previous->routes_[j].sharedSpec(), i, j);
    } else {
      table->routes_.emplace_back(std::move(route), i, Route::kNoPrevious);
    }
  }
  for (CertificateSpec& certificate : spec.certificates) lowerAll(certificate.hosts);
  lowerAll(spec.httpsRedirectHosts);
  if (previous && previous->certificates() == spec.certificates) {
    table->certificates_ = previous->certificates_;
  } else {
    table->certificates_ = std::make_shared<const std::vector<CertificateSpec>>(std::move(spec.certificates));
  }
  table->httpsRedirectHosts_ = std::move(spec.httpsRedirectHosts);
  for (const CertificateSpec& certificate : *table->certificates_) {
    if (!certificate.clientAuth && certificate.hsts.empty()) continue;
    const HostTlsPolicy policy{certificate.clientAuth ? &*certificate.clientAuth : nullptr,
                               certificate.hsts.empty() ? nullptr : &certificate.hsts};
    for (const std::string& host : certificate.hosts) {
      // The first certificate with a policy for a host sets it; a later one adds only what
      // the first left unset (client auth is never dropped).
      HostTlsPolicy& entry = table->hostTlsPolicies_[host];
      if (!entry.clientAuth) entry.clientAuth = policy.clientAuth;
      if (!entry.hsts) entry.hsts = policy.hsts;
    }
  }

  table->indexStreamRoutes();
  Expected<std::unique_ptr<RouteIndex>> index =
      RouteIndex::build(table->routes_, table->httpsRedirectHosts_, previous ? previous->index_.get() : nullptr,
                        previous ? &previous->routes_ : nullptr);
  if (!index) return index.error();
  table->index_ = std::move(*index);
  return RouteTableConstSharedPtr(std::move(table));
}

RouteTable::~RouteTable() = default;

const Route* RouteTable::match(const RequestView& request) const {
  const size_t found = index_->match(request);
  return found == RouteIndex::kNoRoute ? nullptr : &routes_[found];
}

const RouteTable::HostTlsPolicy* RouteTable::findTlsPolicy(std::string_view host) const {
  if (auto it = hostTlsPolicies_.find(std::string(host)); it != hostTlsPolicies_.end()) return &it->second;
  const size_t dot = host.find('.');
  if (dot == std::string_view::npos) return nullptr;
  auto it = hostTlsPolicies_.find("*" + std::string(host.substr(dot)));
  return it == hostTlsPolicies_.end() ? nullptr : &it->second;
}

// Stream routes are few (one per listener port or passthrough host): rebuilt whole.
void RouteTable::indexStreamRoutes() {
  for (const Route& route : routes_) {
    if (!route.spec.stream) continue;
    const StreamSpec& stream = *route.spec.stream;
    streamRoutesByName_.try_emplace(route.spec.name, &route);
    StreamPort& port = streamPorts_[stream.port];
    if (stream.sniHosts.empty()) {
      if (!port.any) port.any = &route;
      continue;
    }
    for (const std::string& host : stream.sniHosts) port.bySni.try_emplace(router::toLowerAscii(host), &route);
  }
}

const Route* RouteTable::matchStream(uint16_t port, std::string_view sni) const {
  auto it = streamPorts_.find(port);
  if (it == streamPorts_.end()) return nullptr;
  const StreamPort& routes = it->second;
  if (!sni.empty() && !routes.bySni.empty()) {
    std::string name = router::toLowerAscii(sni);
    if (auto exact = routes.bySni.find(name); exact != routes.bySni.end()) return exact->second;
    if (const size_t dot = name.find('.'); dot != std::string::npos) {
      if (auto wildcard = routes.bySni.find("*" + name.substr(dot)); wildcard != routes.bySni.end())
        return wildcard->second;
    }
  }
  return routes.any;
}

const Route* RouteTable::streamRoute(std::string_view name) const {
  auto it = streamRoutesByName_.find(name);
  return it == streamRoutesByName_.end() ? nullptr : it->second;
}

bool RouteTable::redirectsToHttps(std::string_view host) const {
  return index_->redirectsToHttps(host);
}

std::string RouteTable::toJson() const {
  // Written route by route: a document of every route at once is a DOM of ~5 KB per
  // route (50 MB at 10,000 routes) that malloc keeps after the request. Names come from
  // user objects: invalid UTF-8 is replaced rather than thrown on.
  auto dump = [](const json& value, int indent) {
    return value.dump(indent, ' ', false, json::error_handler_t::replace);
  };
  std::string out = "{\n  \"version\": " + std::to_string(version_) + ",\n  \"routes\": [";
  for (size_t i = 0; i < routes_.size(); ++i) {
    // Each route's own lines, indented to its place in the document.
    std::string route = dump(routeJson(routes_[i]), 2);
    out += i == 0 ? "\n    " : ",\n    ";
    for (char c : route) {
      out += c;
      if (c == '\n') out += "    ";
    }
  }
  out += routes_.empty() ? "],\n" : "\n  ],\n";
  json certificates = json::array();
  for (const CertificateSpec& c : *certificates_) {
    // Never the PEMs: /routes is for operators, the private key is not.
    json certificate = {{"name", c.name}, {"hosts", c.hosts}, {"isDefault", c.isDefault}};
    if (c.clientAuth)
      certificate["clientAuth"] = {{"mode", c.clientAuth->mode == ClientAuthMode::Require ? "Require" : "Optional"},
                                   {"ca", c.clientAuth->caSource},
                                   {"crl", !c.clientAuth->crlPem.empty()}};
    if (!c.hsts.empty()) certificate["hsts"] = c.hsts;
    if (c.tls13Only) certificate["minVersion"] = "1.3";
    certificates.push_back(std::move(certificate));
  }
  const json rest = {{"certificates", std::move(certificates)}, {"httpsRedirectHosts", httpsRedirectHosts_}};
  const std::string tail = dump(rest, 2);  // "{\n  \"certificates\": ...\n}"
  out.append(tail, 2, std::string::npos);
  return out;
}

}  // namespace portico::proxy
