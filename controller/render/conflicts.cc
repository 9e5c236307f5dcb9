#include "controller/render/conflicts.h"

#include "controller/render/api_names.h"

namespace portico::controller {

std::string_view pathTypeName(proxy::PathMatchType type) { return enumName(kPathMatchTypeNames, type); }

std::string claimKey(std::string_view host, proxy::PathMatchType type, std::string_view path) {
  if (type == proxy::PathMatchType::Prefix) {
    while (path.size() > 1 && path.back() == '/') path.remove_suffix(1);
  }
  std::string key;
  key.reserve(host.size() + path.size() + 4);
  key.append(host).append("\n").append(pathTypeName(type)).append("\n").append(path);
  return key;
}

std::vector<std::string> claimsOf(const ObjectOutput& out) {
  std::vector<std::string> claims;
  for (const auto& route : out.part.routes) {
    if (route.stream) {
      if (route.stream->sniHosts.empty()) claims.push_back(streamClaimKey(route.stream->port, ""));
      for (const auto& name : route.stream->sniHosts) claims.push_back(streamClaimKey(route.stream->port, name));
      continue;
    }
    if (route.pathType == proxy::PathMatchType::RegularExpression) continue;
    if (route.hosts.empty()) claims.push_back(claimKey("", route.pathType, route.path));
    for (const auto& host : route.hosts) claims.push_back(claimKey(host, route.pathType, route.path));
  }
  return claims;
}

std::string streamClaimKey(uint16_t port, std::string_view serverName) {
  return "tcp\n" + std::to_string(port) + "\n" + std::string(serverName);
}

void reportConflict(const ObjectOutput& out, size_t r, const proxy::RouteSpec& route, const std::string& host,
                    const ClaimOwner& winner, bool haveField, Reporter& reporter) {
  std::string what;
  if (route.stream) {
    what = "port " + std::to_string(route.stream->port) +
           (host.empty() ? std::string() : " for TLS server name \"" + host + "\"");
  } else {
    std::string where = host.empty() ? "on every host" : "on host \"" + host + "\"";
    what = std::string(pathTypeName(route.pathType)) + " \"" + route.path + "\" " + where;
  }
  if (!haveField) what += " (route " + route.name + ")";
  reporter.invalid(haveField ? out.routeFields[r] : std::string(), "Conflict",
                   what + " is already served by " + std::string(winner.kind) + " " + std::string(winner.ns) + "/" +
                       std::string(winner.name) + ", which is older (the oldest object wins); not served here");
}

}  // namespace portico::controller
