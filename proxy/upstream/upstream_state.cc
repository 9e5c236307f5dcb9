#include "proxy/upstream/upstream_state.h"

#include <nlohmann/json.hpp>

#include <set>

#include "proxy/config/route_table.h"
#include "proxy/upstream/upstream_tls.h"

namespace portico::proxy {

const char* toString(OverflowReason reason) {
  switch (reason) {
    case OverflowReason::MaxConnections:
      return "max-connections";
    case OverflowReason::MaxPendingRequests:
      return "max-pending-requests";
    case OverflowReason::MaxRequests:
      return "max-requests";
  }
  return "unknown";
}

namespace {
template <class Map>
auto& getOrCreate(Map& map, const std::string& key) {
  auto& slot = map[key];
  if (!slot) slot = std::make_shared<typename Map::mapped_type::element_type>(key);
  return slot;
}

// Erases entries not in `keep` whose only owner is the map (so no worker can hand out
// the pointer again: every copy is taken under the registry's mutex).
template <class Map>
void eraseUnused(Map& map, const std::set<std::string>& keep) {
  for (auto it = map.begin(); it != map.end();) {
    if (!keep.count(it->first) && it->second.use_count() == 1) it = map.erase(it);
    else ++it;
  }
}
}  // namespace

EndpointStatePtr UpstreamRegistry::endpoint(const std::string& address) {
  std::lock_guard lock(mu_);
  return getOrCreate(endpoints_, address);
}

BackendStatePtr UpstreamRegistry::backend(const std::string& key) {
  std::lock_guard lock(mu_);
  return getOrCreate(backends_, key);
}

RouteUpstreamStatePtr UpstreamRegistry::route(const std::string& name) {
  std::lock_guard lock(mu_);
  auto& slot = routes_[name];
  if (!slot) slot = std::make_shared<RouteUpstreamState>();
  return slot;
}

Expected<std::shared_ptr<UpstreamTls>> UpstreamRegistry::tls(const UpstreamTlsSpec& spec) {
  std::string id = UpstreamTls::identity(spec);
  std::lock_guard lock(tlsMutex_);
  if (auto it = tlsContexts_.find(id); it != tlsContexts_.end()) {
    if (auto tls = it->second.lock()) return tls;
  }
  std::erase_if(tlsContexts_, [](const auto& entry) { return entry.second.expired(); });
  auto tls = UpstreamTls::create(spec);
  if (tls) tlsContexts_[std::move(id)] = *tls;
  return tls;
}

void UpstreamRegistry::sweep(const RouteTable& table) {
  std::set<std::string> endpoints, backends, routes;
  for (const Route& route : table.routes()) {
    routes.insert(route.spec.name);
    for (const BackendSpec& backend : route.spec.backends) {
      backends.insert(backend.key);
      for (const EndpointSpec& endpoint : backend.endpoints) endpoints.insert(endpoint.address());
    }
  }
  std::lock_guard lock(mu_);
  eraseUnused(endpoints_, endpoints);
  eraseUnused(backends_, backends);
  eraseUnused(routes_, routes);
}

std::string UpstreamRegistry::toJson() const {
  using nlohmann::json;
  const int64_t now = nowNanos();
  json endpoints = json::object();
  json backends = json::object();
  std::lock_guard lock(mu_);
  for (const auto& [address, e] : endpoints_) {
    const int64_t until = e->ejectedUntilNanos.load(std::memory_order_relaxed);
    endpoints[address] = {
        {"healthy", e->activeHealthy.load(std::memory_order_relaxed)},
        {"ejected", until > now},
        {"ejectedForMs", until > now ? (until - now) / 1'000'000 : 0},
        {"ejections", e->ejections.load(std::memory_order_relaxed)},
        {"inFlight", e->inFlight.load(std::memory_order_relaxed)},
        {"connectionsOpened", e->connectionsOpened.load(std::memory_order_relaxed)},
    };
  }
  for (const auto& [key, b] : backends_) {
    backends[key] = {{"connections", b->connections.load(std::memory_order_relaxed)},
                     {"pending", b->pending.load(std::memory_order_relaxed)},
                     {"inFlight", b->inFlight.load(std::memory_order_relaxed)}};
  }
  return json{{"endpoints", endpoints}, {"backends", backends}}.dump(2);
}

std::string UpstreamRegistry::renderMetrics() const {
  const int64_t now = nowNanos();
  std::string out;
  out += "# TYPE portico_upstream_retries_total counter\nportico_upstream_retries_total " +
         std::to_string(retries_.load()) + "\n";
  out += "# TYPE portico_upstream_retry_budget_exhausted_total counter\n"
         "portico_upstream_retry_budget_exhausted_total " +
         std::to_string(retryBudgetExhausted_.load()) + "\n";
  out += "# TYPE portico_upstream_ejections_total counter\nportico_upstream_ejections_total " +
         std::to_string(ejections_.load()) + "\n";
  out += "# TYPE portico_upstream_overflow_total counter\n";
  for (auto reason : {OverflowReason::MaxConnections, OverflowReason::MaxPendingRequests,
                      OverflowReason::MaxRequests})
    out += std::string("portico_upstream_overflow_total{reason=\"") + toString(reason) + "\"} " +
           std::to_string(overflows_[static_cast<size_t>(reason)].load()) + "\n";
  out += "# TYPE portico_upstream_endpoint_available gauge\n";
  std::lock_guard lock(mu_);
  for (const auto& [address, e] : endpoints_)
    out += "portico_upstream_endpoint_available{endpoint=\"" + address + "\"} " +
           (e->available(now) ? "1" : "0") + "\n";
  return out;
}

}  // namespace portico::proxy
