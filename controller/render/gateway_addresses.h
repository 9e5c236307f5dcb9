// Gateway isolation by address (--gateway-addresses CIDR). One Portico serves every Gateway
// of its class; to keep them apart (a route of Gateway A must not answer on Gateway B, as the
// Gateway API asks), each Gateway gets an address of its own from the pool, published in its
// status.addresses, and its routes match only connections to that address
// (proxy::RouteSpec::localAddresses). The addresses must reach Portico's listeners: local
// addresses of its host or network namespace (for example with hostNetwork and addresses
// the node owns), since Portico listens on the wildcard address and reads the connection's
// local address.
//
// The status written is the state: a Gateway keeps the pool address its status holds, so
// allocation survives restarts and does not shift when other Gateways come and go. Pure.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "proxy/common/expected.h"

namespace portico::controller {

// An IPv4 CIDR's addresses, network and broadcast included (the pool is the operator's).
struct GatewayAddressPool {
  uint32_t first = 0;  // host byte order
  uint32_t size = 0;   // 0: no pool (every Gateway shares the published addresses)

  [[nodiscard]] static Expected<GatewayAddressPool> parse(std::string_view cidr);
  bool empty() const { return size == 0; }
  std::optional<uint32_t> indexOf(std::string_view address) const;
  std::string at(uint32_t index) const;
};

// "ns/name" -> address for `gateways` (oldest first, the Gateways that are ours and
// accepted): each keeps its status address when that is in the pool and no older Gateway
// kept it; the others take the lowest free addresses. Gateways beyond the pool get none.
std::map<std::string, std::string> allocateGatewayAddresses(const std::vector<const nlohmann::json*>& gateways,
                                                            const GatewayAddressPool& pool);

// The pool address `gateway`'s status publishes (what its routes are served on), if any.
std::optional<std::string> publishedGatewayAddress(const nlohmann::json& gateway, const GatewayAddressPool& pool);

}  // namespace portico::controller
