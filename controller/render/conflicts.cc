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
    if (route.pathType == proxy::PathMatchType::RegularExpression) continue;
    if (route.hosts.empty()) claims.push_back(claimKey("", route.pathType, route.path));
    for (const auto& host : route.hosts) claims.push_back(claimKey(host, route.pathType, route.path));
  }
  return claims;
}

void reportConflict(const ObjectOutput& out, size_t r, const proxy::RouteSpec& route, const std::string& host,
                    const ClaimOwner& winner, bool haveField, Reporter& reporter) {
  std::string where = host.empty() ? "on every host" : "on host \"" + host + "\"";
  std::string what = std::string(pathTypeName(route.pathType)) + " \"" + route.path + "\" " + where;
  if (!haveField) what += " (route " + route.name + ")";
  reporter.invalid(haveField ? out.routeFields[r] : std::string(), "Conflict",
                   what + " is already served by " + std::string(winner.kind) + " " + std::string(winner.ns) + "/" +
                       std::string(winner.name) + ", which is older (the oldest object wins); not served here");
}

}  // namespace portico::controller
