// Chooses the endpoint for a request.
//
// RoundRobin: backends by smooth weighted round robin (as nginx does it: an exact, evenly
// spread split such as a 90/10 canary), then their endpoints in turn (smooth weighted
// when endpoint weights differ). Random and LeastRequest draw over every endpoint of
// the rule, each weighted by its backend's share, so the backend split holds on average;
// LeastRequest draws two and takes the one with fewer in-flight requests per weight
// (power of two choices). ConsistentHash hashes the request key onto one ring over every
// endpoint (~100 points per weight unit), so adding or removing one of N endpoints
// remaps about 1/N of the keys. Session affinity pins a client to the endpoint named by
// its cookie while that endpoint is available.
//
// Endpoints that failed active health checks or are ejected as outliers are skipped, and a
// backend with none left hands its share to the others. When fewer than the route's
// panicThresholdPercent of its endpoints are available, the route is in panic and spreads
// over all of them: degraded service beats none.
//
// A RouteBalancer is built per worker per table version (it holds the ring and the shared
// endpoint states); the cursors it advances live in BalancerCursors, kept per worker by
// route name so a table swap does not reset them.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "proxy/config/route_spec.h"
#include "proxy/upstream/upstream_state.h"

namespace portico::proxy {

// True for the share of requests that the route's unresolved backend references would
// have taken (RouteSpec::unresolvedBackendWeight against its backends' weights): those are
// answered 500. Always true when the route has no backend with weight.
bool drawsUnresolvedBackend(const RouteSpec& route, std::mt19937_64& random);

struct BalancerCursors {
  std::vector<int64_t> backendWeights;  // smooth WRR over backends
  uint64_t backendCursor = 0;           // backends of equal weight take plain turns
  struct PerBackend {
    uint64_t cursor = 0;
    std::vector<int64_t> endpointWeights;  // smooth WRR over weighted endpoints
  };
  std::vector<PerBackend> backends;
  int64_t panicCheckedAt = 0;
  bool panic = false;
};

struct Pick {
  const BackendSpec* backend = nullptr;
  const EndpointSpec* endpoint = nullptr;
  EndpointState* endpointState = nullptr;
  BackendState* backendState = nullptr;
  uint64_t affinityId = 0;  // the value for the affinity cookie
  uint32_t backendIndex = 0;
  bool panic = false;
  explicit operator bool() const { return endpoint != nullptr; }
};

struct PickRequest {
  std::optional<uint64_t> hashKey;     // ConsistentHash: hash of the configured key
  std::optional<uint64_t> affinityId;  // from the affinity cookie
  const std::vector<const EndpointState*>* tried = nullptr;  // avoided when others exist
  int64_t now = 0;  // steady clock nanoseconds
};

// A stable 64-bit hash for balancing keys (FNV-1a, then a mixer): the same in every
// process, so replicas agree on where a key goes.
uint64_t balancingHash(std::string_view key);

class RouteBalancer {
 public:
  RouteBalancer(const RouteSpec& route, UpstreamRegistry& registry);

  // nullptr endpoint when the route has no endpoint at all.
  Pick pick(const PickRequest& request, BalancerCursors& cursors, std::mt19937_64& random) const;

  const BackendStatePtr& backendState(uint32_t backendIndex) const { return backendStates_[backendIndex]; }
  // A TLS backend's context (null for a plaintext one, or when its settings failed to
  // load: then tlsError(b) says why and the backend is answered 502, never sent plaintext).
  const std::shared_ptr<UpstreamTls>& tls(uint32_t backendIndex) const { return backends_[backendIndex].tls; }
  const std::string& tlsError(uint32_t backendIndex) const { return backends_[backendIndex].tlsError; }
  // The shared states of one backend's endpoints (outlier detection counts ejections).
  const std::vector<EndpointStatePtr>& endpointStates(uint32_t backendIndex) const {
    return backends_[backendIndex].endpoints;
  }

 private:
  struct Backend {
    const BackendSpec* spec;
    std::vector<EndpointStatePtr> endpoints;
    std::vector<uint64_t> cumulativeWeights;  // of endpoint weights
    bool uniformWeights = true;
    std::shared_ptr<UpstreamTls> tls;
    std::string tlsError;
  };
  struct RingPoint {
    uint64_t hash;
    uint32_t backend;
    uint32_t endpoint;
  };

  std::optional<size_t> chooseBackend(BalancerCursors& cursors, uint64_t excludedMask) const;
  struct Slot {  // Random and LeastRequest draw endpoints of every backend by weight
    double cumulative;
    uint32_t backend;
    uint32_t endpoint;
  };

  std::optional<size_t> chooseEndpoint(size_t b, BalancerCursors::PerBackend& cursor, bool panic,
                                       const PickRequest& request, bool allowTried) const;
  std::optional<Slot> drawSlot(const PickRequest& request, std::mt19937_64& random, bool panic,
                               bool allowTried) const;
  Pick pickDrawn(const PickRequest& request, bool panic, std::mt19937_64& random) const;
  bool usable(const EndpointState& e, bool panic, const PickRequest& request, bool allowTried) const;
  bool inPanic(BalancerCursors& cursors, int64_t now) const;
  Pick makePick(size_t b, size_t e, bool panic) const;
  Pick pickByHash(uint64_t hash, const PickRequest& request) const;

  const RouteSpec& route_;
  std::vector<Backend> backends_;
  std::vector<BackendStatePtr> backendStates_;
  bool uniformBackends_ = false;  // equal weights, all with endpoints
  std::vector<Slot> slots_;      // Random and LeastRequest only
  std::vector<RingPoint> ring_;  // ConsistentHash only, sorted by hash
  std::unordered_map<uint64_t, std::pair<uint32_t, uint32_t>> byAffinityId_;  // affinity only
};

// Per worker: cursors by route name, surviving table swaps.
class BalancerCursorStore {
 public:
  // Worker thread only. Stable for the life of the store; call once per table version.
  BalancerCursors* cursorsFor(const std::string& routeName);

 private:
  std::unordered_map<std::string, std::unique_ptr<BalancerCursors>> cursors_;
};

}  // namespace portico::proxy
