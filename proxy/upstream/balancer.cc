#include "proxy/upstream/balancer.h"

#include <algorithm>

namespace portico::proxy {

namespace {
// How often a worker re-counts a backend's available endpoints to decide panic mode: a
// full scan per request would cost O(endpoints).
constexpr int64_t kPanicRecheckNanos = 100'000'000;
// Ring points per unit of weight, capped so that huge backends keep a small ring.
constexpr size_t kPointsPerWeight = 100;
constexpr size_t kMaxRingPoints = 160'000;

uint64_t mix(uint64_t x) {  // splitmix64 finalizer
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ull;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebull;
  x ^= x >> 31;
  return x;
}
}  // namespace

uint64_t balancingHash(std::string_view key) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : key) {
    h ^= c;
    h *= 0x100000001b3ull;
  }
  return mix(h);
}

bool drawsUnresolvedBackend(const RouteSpec& route, std::mt19937_64& random) {
  if (route.unresolvedBackendWeight == 0) return false;
  uint64_t resolved = 0;
  for (const BackendSpec& spec : route.backends) resolved += spec.weight;
  if (resolved == 0) return true;
  return random() % (resolved + route.unresolvedBackendWeight) < route.unresolvedBackendWeight;
}

RouteBalancer::RouteBalancer(const RouteSpec& route, UpstreamRegistry& registry) : route_(route) {
  uint64_t totalWeight = 0;
  for (const BackendSpec& spec : route.backends) {
    Backend backend{&spec, {}, {}, true, {}, {}};
    if (spec.tls) {
      auto tls = registry.tls(*spec.tls);
      if (tls) backend.tls = std::move(tls).value();
      else backend.tlsError = "upstream TLS settings failed to load: " + tls.error().message;
    }
    uint64_t cumulative = 0;
    for (const EndpointSpec& endpoint : spec.endpoints) {
      backend.endpoints.push_back(registry.endpoint(endpoint.address()));
      cumulative += std::max<uint32_t>(endpoint.weight, 1);
      backend.cumulativeWeights.push_back(cumulative);
      if (endpoint.weight != spec.endpoints.front().weight) backend.uniformWeights = false;
      totalWeight += uint64_t(spec.weight) * std::max<uint32_t>(endpoint.weight, 1);
    }
    backendStates_.push_back(registry.backend(spec.key));
    backends_.push_back(std::move(backend));
  }
  uniformBackends_ = !route.backends.empty();
  for (const BackendSpec& spec : route.backends)
    if (spec.weight != route.backends.front().weight || spec.weight == 0 || spec.endpoints.empty())
      uniformBackends_ = false;

  if (route.loadBalancing == LoadBalancingPolicy::Random || route.loadBalancing == LoadBalancingPolicy::LeastRequest) {
    // Each endpoint's share: its backend's weight split by endpoint weight, so that the
    // backends' split holds over the draws.
    double cumulative = 0;
    for (uint32_t b = 0; b < backends_.size(); ++b) {
      const BackendSpec& spec = *backends_[b].spec;
      if (spec.endpoints.empty()) continue;
      const double perUnit = double(spec.weight) / double(backends_[b].cumulativeWeights.back());
      for (uint32_t e = 0; e < spec.endpoints.size(); ++e) {
        const double share = perUnit * std::max<uint32_t>(spec.endpoints[e].weight, 1);
        if (share <= 0) continue;
        cumulative += share;
        slots_.push_back({cumulative, b, e});
      }
    }
  }
  if (route.loadBalancing == LoadBalancingPolicy::ConsistentHash && totalWeight > 0) {
    const double scale = std::min<double>(kPointsPerWeight, double(kMaxRingPoints) / double(totalWeight));
    for (uint32_t b = 0; b < backends_.size(); ++b) {
      const BackendSpec& spec = *backends_[b].spec;
      for (uint32_t e = 0; e < spec.endpoints.size(); ++e) {
        const uint64_t weight = uint64_t(spec.weight) * std::max<uint32_t>(spec.endpoints[e].weight, 1);
        const size_t points = weight == 0 ? 0 : std::max<size_t>(1, size_t(double(weight) * scale));
        // Points depend on the address only, so an endpoint keeps its arcs when others
        // come and go.
        const uint64_t base = balancingHash(spec.endpoints[e].address());
        for (size_t i = 0; i < points; ++i) ring_.push_back({mix(base + i), b, e});
      }
    }
    std::sort(ring_.begin(), ring_.end(), [](const RingPoint& x, const RingPoint& y) { return x.hash < y.hash; });
  }
  if (route.sessionAffinity) {
    for (uint32_t b = 0; b < backends_.size(); ++b)
      for (uint32_t e = 0; e < backends_[b].endpoints.size(); ++e)
        byAffinityId_.emplace(balancingHash(backends_[b].endpoints[e]->address), std::make_pair(b, e));
  }
}

bool RouteBalancer::usable(const EndpointState& e, bool panic, const PickRequest& request, bool allowTried) const {
  if (!panic && !e.available(request.now)) return false;
  if (!allowTried && request.tried &&
      std::find(request.tried->begin(), request.tried->end(), &e) != request.tried->end())
    return false;
  return true;
}

bool RouteBalancer::inPanic(BalancerCursors& cursors, int64_t now) const {
  if (route_.panicThresholdPercent == 0) return false;
  if (cursors.panicCheckedAt != 0 && now - cursors.panicCheckedAt < kPanicRecheckNanos) return cursors.panic;
  size_t available = 0, total = 0;
  for (const Backend& backend : backends_) {
    if (backend.spec->weight == 0) continue;
    total += backend.endpoints.size();
    for (const auto& e : backend.endpoints) available += e->available(now);
  }
  cursors.panic = available * 100 < total * route_.panicThresholdPercent;
  cursors.panicCheckedAt = now;
  return cursors.panic;
}

Pick RouteBalancer::makePick(size_t b, size_t e, bool panic) const {
  const Backend& backend = backends_[b];
  EndpointState* state = backend.endpoints[e].get();
  return Pick{backend.spec, &backend.spec->endpoints[e], state, backendStates_[b].get(),
              byAffinityId_.empty() ? 0 : balancingHash(state->address), static_cast<uint32_t>(b), panic};
}

std::optional<size_t> RouteBalancer::chooseBackend(BalancerCursors& cursors, uint64_t excluded) const {
  if (uniformBackends_) {
    // Equal weights: plain turns, O(1) however many backends (smooth WRR is O(backends)).
    const size_t n = backends_.size();
    for (size_t step = 0; step < n; ++step) {
      const size_t i = cursors.backendCursor++ % n;
      if (!(i < 64 && (excluded >> i & 1))) return i;
    }
    return std::nullopt;
  }
  int64_t total = 0;
  int best = -1;
  for (size_t i = 0; i < backends_.size(); ++i) {
    const BackendSpec& spec = *backends_[i].spec;
    if ((i < 64 && (excluded >> i & 1)) || spec.endpoints.empty() || spec.weight == 0) continue;
    cursors.backendWeights[i] += spec.weight;
    total += spec.weight;
    if (best < 0 || cursors.backendWeights[i] > cursors.backendWeights[best]) best = static_cast<int>(i);
  }
  if (best < 0) return std::nullopt;
  cursors.backendWeights[best] -= total;
  return static_cast<size_t>(best);
}

std::optional<size_t> RouteBalancer::chooseEndpoint(size_t b, BalancerCursors::PerBackend& cursor, bool panic,
                                                    const PickRequest& request, bool allowTried) const {
  const Backend& backend = backends_[b];
  const auto& endpoints = backend.endpoints;
  const size_t n = endpoints.size();
  if (backend.uniformWeights) {
    for (size_t step = 0; step < n; ++step) {
      const size_t i = cursor.cursor++ % n;
      if (usable(*endpoints[i], panic, request, allowTried)) return i;
    }
    return std::nullopt;
  }
  // Smooth weighted round robin over the usable endpoints.
  cursor.endpointWeights.resize(n, 0);
  int64_t total = 0;
  int best = -1;
  for (size_t i = 0; i < n; ++i) {
    if (!usable(*endpoints[i], panic, request, allowTried)) continue;
    const int64_t w = std::max<uint32_t>(backend.spec->endpoints[i].weight, 1);
    cursor.endpointWeights[i] += w;
    total += w;
    if (best < 0 || cursor.endpointWeights[i] > cursor.endpointWeights[best]) best = static_cast<int>(i);
  }
  if (best < 0) return std::nullopt;
  cursor.endpointWeights[best] -= total;
  return static_cast<size_t>(best);
}

std::optional<RouteBalancer::Slot> RouteBalancer::drawSlot(const PickRequest& request, std::mt19937_64& random,
                                                           bool panic, bool allowTried) const {
  // A few weighted draws over every endpoint of the rule; unusable draws are redrawn.
  for (int draws = 0; draws < 8; ++draws) {
    const double r = std::uniform_real_distribution<double>(0, slots_.back().cumulative)(random);
    auto it = std::upper_bound(slots_.begin(), slots_.end(), r,
                               [](double v, const Slot& slot) { return v < slot.cumulative; });
    if (it == slots_.end()) --it;
    if (usable(*backends_[it->backend].endpoints[it->endpoint], panic, request, allowTried)) return *it;
  }
  return std::nullopt;
}

Pick RouteBalancer::pickDrawn(const PickRequest& request, bool panic, std::mt19937_64& random) const {
  if (slots_.empty()) return {};
  for (bool allowTried : {false, true}) {
    std::optional<Slot> chosen = drawSlot(request, random, panic, allowTried);
    if (chosen && route_.loadBalancing == LoadBalancingPolicy::LeastRequest) {
      // Power of two choices: a second draw, and the less loaded per unit of weight wins.
      if (std::optional<Slot> other = drawSlot(request, random, panic, allowTried)) {
        auto load = [&](const Slot& s) {
          return double(backends_[s.backend].endpoints[s.endpoint]->inFlight.load(std::memory_order_relaxed) + 1) /
                 std::max<uint32_t>(backends_[s.backend].spec->endpoints[s.endpoint].weight, 1);
        };
        if (load(*other) < load(*chosen)) chosen = other;
      }
    }
    if (chosen) return makePick(chosen->backend, chosen->endpoint, panic);
  }
  return {};  // unlucky draws only; the caller falls back to round robin
}

Pick RouteBalancer::pickByHash(uint64_t hash, const PickRequest& request) const {
  if (ring_.empty()) return {};
  auto start = std::lower_bound(ring_.begin(), ring_.end(), hash,
                                [](const RingPoint& p, uint64_t h) { return p.hash < h; });
  const size_t first = start == ring_.end() ? 0 : size_t(start - ring_.begin());
  // Walk clockwise to the first usable endpoint: an unavailable endpoint's keys spread
  // over its neighbours, and come back when it does. Panic: the owner regardless.
  for (bool allowTried : {false, true}) {
    for (size_t step = 0; step < ring_.size(); ++step) {
      const RingPoint& p = ring_[(first + step) % ring_.size()];
      if (usable(*backends_[p.backend].endpoints[p.endpoint], false, request, allowTried))
        return makePick(p.backend, p.endpoint, false);
    }
  }
  if (route_.panicThresholdPercent == 0) return {};
  const RingPoint& owner = ring_[first];
  return makePick(owner.backend, owner.endpoint, true);
}

Pick RouteBalancer::pick(const PickRequest& request, BalancerCursors& cursors, std::mt19937_64& random) const {
  if (cursors.backendWeights.size() != backends_.size()) {
    cursors.backendWeights.assign(backends_.size(), 0);
    cursors.backends.assign(backends_.size(), {});
  }
  if (request.affinityId) {
    if (auto it = byAffinityId_.find(*request.affinityId); it != byAffinityId_.end()) {
      const auto [b, e] = it->second;
      if (usable(*backends_[b].endpoints[e], false, request, false)) return makePick(b, e, false);
    }
  }
  if (route_.loadBalancing == LoadBalancingPolicy::ConsistentHash)
    return pickByHash(request.hashKey.value_or(random()), request);
  const bool panic = inPanic(cursors, request.now);
  if (route_.loadBalancing == LoadBalancingPolicy::Random || route_.loadBalancing == LoadBalancingPolicy::LeastRequest)
    if (Pick drawn = pickDrawn(request, panic, random)) return drawn;

  // Round robin, and the fallback of unlucky draws. First avoiding endpoints this request
  // already tried, then allowing them; a backend with nothing usable hands its turn on.
  for (bool allowTried : {false, true}) {
    uint64_t excluded = 0;  // bit per backend (routes have few backends)
    for (size_t round = 0; round < backends_.size(); ++round) {
      const std::optional<size_t> b = chooseBackend(cursors, excluded);
      if (!b) break;
      if (auto e = chooseEndpoint(*b, cursors.backends[*b], panic, request, allowTried)) return makePick(*b, *e, panic);
      if (*b < 64) excluded |= uint64_t(1) << *b;
    }
  }
  return {};  // nothing available and not in panic (panic mode off)
}

BalancerCursors* BalancerCursorStore::cursorsFor(const std::string& routeName) {
  auto& slot = cursors_[routeName];
  if (!slot) slot = std::make_unique<BalancerCursors>();
  return slot.get();
}

}  // namespace portico::proxy
