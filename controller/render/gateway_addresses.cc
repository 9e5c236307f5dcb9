#include "controller/render/gateway_addresses.h"

#include <arpa/inet.h>

#include <charconv>
#include <set>

#include "controller/render/gateway_api.h"
#include "controller/render/render_context.h"

namespace portico::controller {

using nlohmann::json;
using namespace gwjson;

namespace {
std::optional<uint32_t> parseIpv4(std::string_view text) {
  in_addr a{};
  if (inet_pton(AF_INET, std::string(text).c_str(), &a) != 1) return std::nullopt;
  return ntohl(a.s_addr);
}
}  // namespace

Expected<GatewayAddressPool> GatewayAddressPool::parse(std::string_view cidr) {
  const size_t slash = cidr.find('/');
  const auto base = parseIpv4(cidr.substr(0, slash));
  unsigned bits = 32;
  if (slash != std::string_view::npos) {
    const std::string_view b = cidr.substr(slash + 1);
    auto [end, ec] = std::from_chars(b.data(), b.data() + b.size(), bits);
    if (ec != std::errc() || end != b.data() + b.size() || bits > 32) bits = 99;
  }
  if (!base || bits < 16 || bits > 32) {
    return makeError("must be an IPv4 CIDR from /16 to /32, like 10.0.10.0/28");
  }
  GatewayAddressPool pool;
  pool.size = bits == 32 ? 1 : (1u << (32 - bits));
  pool.first = *base & ~(pool.size - 1);
  return pool;
}

std::optional<uint32_t> GatewayAddressPool::indexOf(std::string_view address) const {
  const auto a = parseIpv4(address);
  if (!a || *a < first || *a - first >= size) return std::nullopt;
  return *a - first;
}

std::string GatewayAddressPool::at(uint32_t index) const {
  in_addr a{};
  a.s_addr = htonl(first + index);
  char text[INET_ADDRSTRLEN];
  return inet_ntop(AF_INET, &a, text, sizeof text);
}

std::optional<std::string> publishedGatewayAddress(const json& gateway, const GatewayAddressPool& pool) {
  const json* addresses = at(at(&gateway, "status"), "addresses");
  if (pool.empty() || !addresses || !addresses->is_array()) return std::nullopt;
  for (const auto& a : *addresses) {
    const std::string value = str(&a, "value");
    if (strOr(&a, "type", "IPAddress") == "IPAddress" && pool.indexOf(value)) return value;
  }
  return std::nullopt;
}

std::map<std::string, std::string> allocateGatewayAddresses(const std::vector<const json*>& gateways,
                                                            const GatewayAddressPool& pool) {
  std::map<std::string, std::string> out;
  std::set<uint32_t> taken;
  std::vector<std::string> waiting;
  for (const auto& o : inCreationOrder(gateways)) {
    const std::string key = o.ns + "/" + o.name;
    if (auto kept = publishedGatewayAddress(*o.object, pool); kept && taken.insert(*pool.indexOf(*kept)).second) {
      out[key] = *kept;
    } else {
      waiting.push_back(key);
    }
  }
  uint32_t next = 0;
  for (const auto& key : waiting) {
    while (next < pool.size && taken.contains(next)) ++next;
    if (next == pool.size) break;
    taken.insert(next);
    out[key] = pool.at(next);
  }
  return out;
}

}  // namespace portico::controller
