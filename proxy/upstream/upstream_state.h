// Process-wide runtime state of upstreams, shared by every worker and kept outside the
// routing table so that a table swap forgets nothing: endpoint health (active checks),
// outlier ejections, in-flight counts, circuit-breaker counters and retry budgets.
//
// Keyed by stable names: endpoints by address ("host:port"), backends by their key
// ("ns/service:port"), retry budgets by route name. Workers resolve the shared_ptrs once
// per table version and then touch only atomics on the request path. The registry
// frees entries that the newest table no longer names once nobody else holds them
// (sweep()), so state of backends that disappeared is drained and then freed.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "proxy/common/expected.h"
#include "proxy/config/route_spec.h"

namespace portico::proxy {

class RouteTable;
class UpstreamTls;
using SteadyClock = std::chrono::steady_clock;

inline int64_t nowNanos(SteadyClock::time_point t = SteadyClock::now()) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

struct EndpointState {
  explicit EndpointState(std::string a) : address(std::move(a)) {}
  const std::string address;

  // Active health checks (HealthChecker writes, workers read). Healthy until proven
  // otherwise, so a new endpoint takes traffic before its first check.
  std::atomic<bool> activeHealthy{true};
  std::atomic<uint32_t> checkPasses{0};
  std::atomic<uint32_t> checkFailures{0};

  // Passive outlier detection.
  std::atomic<uint32_t> consecutive5xx{0};
  std::atomic<uint32_t> consecutiveGatewayFailures{0};
  std::atomic<int64_t> ejectedUntilNanos{0};  // steady clock
  std::atomic<uint32_t> ejectionMultiplier{0};  // grows the ejection time, decays when clean
  std::atomic<uint64_t> ejections{0};           // lifetime count

  // Load.
  std::atomic<int64_t> inFlight{0};
  std::atomic<uint64_t> connectionsOpened{0};  // lifetime: tests see pools survive swaps

  bool ejected(int64_t now) const { return ejectedUntilNanos.load(std::memory_order_relaxed) > now; }
  bool available(int64_t now) const {
    return activeHealthy.load(std::memory_order_relaxed) && !ejected(now);
  }
};
using EndpointStatePtr = std::shared_ptr<EndpointState>;

struct BackendState {
  explicit BackendState(std::string k) : key(std::move(k)) {}
  const std::string key;
  std::atomic<int64_t> connections{0};  // open upstream connections, idle or busy
  std::atomic<int64_t> pending{0};      // requests waiting for a new connection
  std::atomic<int64_t> inFlight{0};
  std::mutex ejectionMutex;  // ejection decisions (rare) look at every endpoint
};
using BackendStatePtr = std::shared_ptr<BackendState>;

// Per route (by name): the retry budget's two counters.
struct RouteUpstreamState {
  std::atomic<int64_t> activeRequests{0};
  std::atomic<int64_t> activeRetries{0};
};
using RouteUpstreamStatePtr = std::shared_ptr<RouteUpstreamState>;

enum class OverflowReason { MaxConnections, MaxPendingRequests, MaxRequests };
const char* toString(OverflowReason reason);

class UpstreamRegistry {
 public:
  // Any thread; takes a mutex: call once per table version, not per request.
  EndpointStatePtr endpoint(const std::string& address);
  BackendStatePtr backend(const std::string& key);
  RouteUpstreamStatePtr route(const std::string& name);
  // The TLS context of `spec` (upstream_tls.h), shared by every route, worker and probe
  // naming the same settings (and so are its resumable sessions); made on first use,
  // freed when nobody holds it. Fails when the spec's PEM does not load.
  Expected<std::shared_ptr<UpstreamTls>> tls(const UpstreamTlsSpec& spec);

  // Drops entries the table does not name and nobody else holds.
  void sweep(const RouteTable& table);

  // Any worker.
  void recordRetry() { retries_.fetch_add(1, std::memory_order_relaxed); }
  void recordRetryBudgetExhausted() { retryBudgetExhausted_.fetch_add(1, std::memory_order_relaxed); }
  void recordEjection() { ejections_.fetch_add(1, std::memory_order_relaxed); }
  void recordOverflow(OverflowReason reason) {
    overflows_[static_cast<size_t>(reason)].fetch_add(1, std::memory_order_relaxed);
  }

  // Admin: JSON for GET /upstreams and Prometheus lines for /metrics.
  std::string toJson() const;
  std::string renderMetrics() const;

 private:
  mutable std::mutex mu_;
  std::unordered_map<std::string, EndpointStatePtr> endpoints_;
  std::unordered_map<std::string, BackendStatePtr> backends_;
  std::unordered_map<std::string, RouteUpstreamStatePtr> routes_;
  std::mutex tlsMutex_;
  std::unordered_map<std::string, std::weak_ptr<UpstreamTls>> tlsContexts_;  // by UpstreamTls::identity
  std::atomic<uint64_t> retries_{0};
  std::atomic<uint64_t> retryBudgetExhausted_{0};
  std::atomic<uint64_t> ejections_{0};
  std::array<std::atomic<uint64_t>, 3> overflows_{};
};

}  // namespace portico::proxy
