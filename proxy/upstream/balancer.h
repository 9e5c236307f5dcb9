// Chooses the endpoint for a request. Backends of a route are weighted (smooth weighted
// round robin, as nginx does it: an even spread, never bursts); endpoints inside a
// backend take turns. The cursors are runtime state: they live per worker in
// BalancerState objects keyed by route name, so a table swap does not reset them.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "proxy/config/route_table.h"

namespace portico::proxy {

struct BalancerState {
  std::vector<int64_t> currentWeights;  // smooth WRR, one per backend
  std::vector<uint64_t> endpointCursor;  // one per backend
};

struct Pick {
  const BackendSpec* backend = nullptr;
  const EndpointSpec* endpoint = nullptr;
  explicit operator bool() const { return endpoint != nullptr; }
};

class Balancer {
 public:
  // Worker thread only. Stable for the life of the Balancer; call once per table version.
  BalancerState* stateFor(const std::string& routeName);
  // nullptr endpoint when the route has no endpoint at all (503). `skipEndpoint` avoids
  // one address when another exists (a retry goes elsewhere).
  static Pick pick(const RouteSpec& route, BalancerState& state, const std::string* skipEndpoint = nullptr);

 private:
  std::unordered_map<std::string, std::unique_ptr<BalancerState>> states_;
};

}  // namespace portico::proxy
