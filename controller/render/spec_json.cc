#include "controller/render/spec_json.h"

namespace portico::controller {
namespace {

using nlohmann::ordered_json;

const char* name(proxy::PathMatchType t) {
  switch (t) {
    case proxy::PathMatchType::Exact: return "Exact";
    case proxy::PathMatchType::Prefix: return "Prefix";
    case proxy::PathMatchType::RegularExpression: return "RegularExpression";
  }
  return "?";
}

const char* name(proxy::HeaderMatchType t) {
  switch (t) {
    case proxy::HeaderMatchType::Exact: return "Exact";
    case proxy::HeaderMatchType::RegularExpression: return "RegularExpression";
    case proxy::HeaderMatchType::Present: return "Present";
  }
  return "?";
}

const char* name(proxy::LoadBalancingPolicy p) {
  switch (p) {
    case proxy::LoadBalancingPolicy::RoundRobin: return "RoundRobin";
    case proxy::LoadBalancingPolicy::LeastRequest: return "LeastRequest";
    case proxy::LoadBalancingPolicy::Random: return "Random";
    case proxy::LoadBalancingPolicy::ConsistentHash: return "ConsistentHash";
  }
  return "?";
}

ordered_json edits(const proxy::HeaderEdits& e) {
  ordered_json out = ordered_json::object();
  out["set"] = ordered_json::array();
  for (const auto& [k, v] : e.set) out["set"].push_back({k, v});
  out["add"] = ordered_json::array();
  for (const auto& [k, v] : e.add) out["add"].push_back({k, v});
  out["remove"] = e.remove;
  return out;
}

ordered_json route(const proxy::RouteSpec& r) {
  ordered_json j;
  j["name"] = r.name;
  j["hosts"] = r.hosts;
  j["pathType"] = name(r.pathType);
  j["path"] = r.path;
  j["methods"] = r.methods;
  j["headers"] = ordered_json::array();
  for (const auto& h : r.headers) {
    j["headers"].push_back({{"name", h.name}, {"type", name(h.type)}, {"value", h.value}});
  }
  j["query"] = ordered_json::array();
  for (const auto& q : r.query) j["query"].push_back({{"name", q.name}, {"value", q.value}});
  j["backends"] = ordered_json::array();
  for (const auto& b : r.backends) {
    ordered_json backend;
    backend["key"] = b.key;
    backend["weight"] = b.weight;
    backend["tls"] = b.tls;
    backend["endpoints"] = ordered_json::array();
    for (const auto& e : b.endpoints) {
      backend["endpoints"].push_back({{"host", e.host}, {"port", e.port}, {"weight", e.weight}});
    }
    j["backends"].push_back(std::move(backend));
  }
  j["loadBalancing"] = name(r.loadBalancing);
  j["timeouts"] = {{"connectMs", r.timeouts.connect.count()},
                   {"requestMs", r.timeouts.request.count()},
                   {"idleMs", r.timeouts.idle.count()}};
  j["rewritePathPrefix"] = r.rewritePathPrefix ? ordered_json(*r.rewritePathPrefix) : ordered_json();
  j["rewriteHost"] = r.rewriteHost ? ordered_json(*r.rewriteHost) : ordered_json();
  j["requestHeaders"] = edits(r.requestHeaders);
  j["responseHeaders"] = edits(r.responseHeaders);
  j["maxRequestBodyBytes"] = r.maxRequestBodyBytes;
  return j;
}

}  // namespace

ordered_json toJson(const proxy::RouteTableSpec& table, bool includePrivateKeys) {
  ordered_json j;
  j["routes"] = ordered_json::array();
  for (const auto& r : table.routes) j["routes"].push_back(route(r));
  j["certificates"] = ordered_json::array();
  for (const auto& c : table.certificates) {
    ordered_json cert;
    cert["name"] = c.name;
    cert["hosts"] = c.hosts;
    cert["certificatePem"] = c.certificatePem;
    cert["privateKeyPem"] = includePrivateKeys ? c.privateKeyPem : std::string("<redacted>");
    cert["isDefault"] = c.isDefault;
    j["certificates"].push_back(std::move(cert));
  }
  j["httpsRedirectHosts"] = table.httpsRedirectHosts;
  return j;
}

ordered_json toJson(const std::vector<Diagnostic>& diagnostics) {
  ordered_json j = ordered_json::array();
  for (const auto& d : diagnostics) {
    j.push_back({{"object", d.object.toString()},
                 {"field", d.field},
                 {"condition", d.condition},
                 {"reason", d.reason},
                 {"message", d.message}});
  }
  return j;
}

}  // namespace portico::controller
