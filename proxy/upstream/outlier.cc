#include "proxy/upstream/outlier.h"

#include <algorithm>

namespace portico::proxy {

namespace {
bool reached(const std::atomic<uint32_t>& counter, uint32_t threshold) {
  return threshold > 0 && counter.load(std::memory_order_relaxed) >= threshold;
}
}  // namespace

bool recordOutcome(const OutlierDetectionSpec& spec, EndpointState& endpoint, BackendState& backend,
                   const std::vector<EndpointStatePtr>& peers, UpstreamOutcome outcome, int64_t now) {
  switch (outcome) {
    case UpstreamOutcome::Success:
      // Plain stores only when needed: a healthy endpoint's counters stay cache-clean.
      if (endpoint.consecutive5xx.load(std::memory_order_relaxed)) endpoint.consecutive5xx.store(0);
      if (endpoint.consecutiveGatewayFailures.load(std::memory_order_relaxed))
        endpoint.consecutiveGatewayFailures.store(0);
      return false;
    case UpstreamOutcome::ServerError:
      endpoint.consecutive5xx.fetch_add(1, std::memory_order_relaxed);
      break;
    case UpstreamOutcome::GatewayFailure:
      endpoint.consecutiveGatewayFailures.fetch_add(1, std::memory_order_relaxed);
      // A gateway failure is a server error too (Envoy counts them the same way).
      endpoint.consecutive5xx.fetch_add(1, std::memory_order_relaxed);
      break;
  }
  if (!reached(endpoint.consecutive5xx, spec.consecutive5xx) &&
      !reached(endpoint.consecutiveGatewayFailures, spec.consecutiveGatewayFailures))
    return false;

  std::lock_guard lock(backend.ejectionMutex);
  if (endpoint.ejected(now)) return false;  // another worker was first
  size_t ejected = 0;
  for (const auto& peer : peers) ejected += peer->ejected(now);
  if (ejected > 0 && (ejected + 1) * 100 > peers.size() * spec.maxEjectionPercent) return false;

  // The multiplier decays by one for every base period the endpoint stayed un-ejected, so
  // one that failed long ago starts short again.
  const int64_t base = std::chrono::duration_cast<std::chrono::nanoseconds>(spec.baseEjectionTime).count();
  const int64_t max = std::chrono::duration_cast<std::chrono::nanoseconds>(spec.maxEjectionTime).count();
  int64_t multiplier = endpoint.ejectionMultiplier.load(std::memory_order_relaxed);
  const int64_t previousEnd = endpoint.ejectedUntilNanos.load(std::memory_order_relaxed);
  if (base > 0 && previousEnd > 0) multiplier = std::max<int64_t>(0, multiplier - (now - previousEnd) / base);
  multiplier += 1;
  endpoint.ejectedUntilNanos.store(now + std::min(base * multiplier, std::max(max, base)));
  endpoint.ejectionMultiplier.store(static_cast<uint32_t>(multiplier));
  endpoint.ejections.fetch_add(1, std::memory_order_relaxed);
  endpoint.consecutive5xx.store(0);
  endpoint.consecutiveGatewayFailures.store(0);
  return true;
}

}  // namespace portico::proxy
