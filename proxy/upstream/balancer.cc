#include "proxy/upstream/balancer.h"

namespace portico::proxy {

BalancerState* Balancer::stateFor(const std::string& routeName) {
  auto& slot = states_[routeName];
  if (!slot) slot = std::make_unique<BalancerState>();
  return slot.get();
}

Pick Balancer::pick(const RouteSpec& route, BalancerState& state, const std::string* skipEndpoint) {
  const auto& backends = route.backends;
  if (state.currentWeights.size() != backends.size()) {
    state.currentWeights.assign(backends.size(), 0);
    state.endpointCursor.resize(backends.size(), 0);
  }
  // Smooth weighted round robin over the backends that have endpoints.
  int64_t total = 0;
  int best = -1;
  for (size_t i = 0; i < backends.size(); ++i) {
    if (backends[i].endpoints.empty() || backends[i].weight == 0) continue;
    state.currentWeights[i] += backends[i].weight;
    total += backends[i].weight;
    if (best < 0 || state.currentWeights[i] > state.currentWeights[best]) best = static_cast<int>(i);
  }
  if (best < 0) return {};
  state.currentWeights[best] -= total;

  const BackendSpec& backend = backends[best];
  const auto& endpoints = backend.endpoints;
  uint64_t& cursor = state.endpointCursor[best];
  const EndpointSpec* chosen = &endpoints[cursor++ % endpoints.size()];
  if (skipEndpoint && endpoints.size() > 1 && chosen->address() == *skipEndpoint)
    chosen = &endpoints[cursor++ % endpoints.size()];
  return Pick{&backend, chosen};
}

}  // namespace portico::proxy
