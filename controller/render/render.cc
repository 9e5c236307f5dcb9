// Orchestrates render: builds the lookups once, runs each kind's translator (APIRoutes and
// Ingresses), then merges what every object contributes in creation order, so earlier
// objects win ties across kinds too, and settles host+path conflicts on the way.
#include "controller/render/render.h"

#include <algorithm>
#include <tuple>
#include <unordered_map>

#include "controller/render/apiroute.h"
#include "controller/render/ingress.h"
#include "controller/render/render_context.h"

namespace portico::controller {
namespace {

const char* pathTypeName(proxy::PathMatchType type) {
  switch (type) {
    case proxy::PathMatchType::Exact: return "Exact";
    case proxy::PathMatchType::Prefix: return "Prefix";
    case proxy::PathMatchType::RegularExpression: return "RegularExpression";
  }
  return "?";
}

// What a route claims on one host: "host \n type \n path". Prefix paths are compared as the
// router matches them: trailing slashes do not count ("/foo/" claims what "/foo" claims).
std::string claimKey(std::string_view host, proxy::PathMatchType type, std::string_view path) {
  if (type == proxy::PathMatchType::Prefix) {
    while (path.size() > 1 && path.back() == '/') path.remove_suffix(1);
  }
  std::string key;
  key.reserve(host.size() + path.size() + 4);
  key.append(host).append("\n").append(pathTypeName(type)).append("\n").append(path);
  return key;
}

// The same host + pathType + path claimed by two objects goes to the earlier one in
// `outputs` (sorted oldest first); the later object loses that host for that path, with a
// Conflict diagnostic. Between two APIRoutes nothing changes: their rules may share a path
// and differ in methods, headers or query, and the router orders them. Regular expressions
// are never compared (no Ingress has one). One hash map over every claim: linear time.
void resolveConflicts(std::vector<ObjectOutput>& outputs, std::vector<Diagnostic>& diagnostics) {
  size_t claimCount = 0;
  for (const auto& out : outputs) {
    for (const auto& r : out.part.routes) claimCount += std::max<size_t>(1, r.hosts.size());
  }
  std::unordered_map<std::string, size_t> owner;  // claim key -> index in outputs
  owner.reserve(claimCount);

  for (size_t i = 0; i < outputs.size(); ++i) {
    ObjectOutput& out = outputs[i];
    auto& routes = out.part.routes;
    bool haveFields = out.routeFields.size() == routes.size();
    std::vector<proxy::RouteSpec> kept;
    std::vector<std::string> keptFields;
    kept.reserve(routes.size());
    Reporter reporter(diagnostics, ObjectRef{out.kind, out.ns, out.name});
    for (size_t r = 0; r < routes.size(); ++r) {
      proxy::RouteSpec& route = routes[r];
      bool lostAll = false;
      if (route.pathType != proxy::PathMatchType::RegularExpression) {
        // Hosts are checked one by one: a route keeps the hosts it won. The catch-all ("")
        // is a host of its own here, and a route never widens to it by losing its hosts.
        std::vector<std::string> hosts = route.hosts.empty() ? std::vector<std::string>{""}
                                                             : route.hosts;
        std::vector<std::string> won;
        for (const auto& host : hosts) {
          auto [it, inserted] = owner.try_emplace(claimKey(host, route.pathType, route.path), i);
          const ObjectOutput& winner = outputs[it->second];
          if (inserted || it->second == i || (winner.kind == "APIRoute" && out.kind == "APIRoute")) {
            won.push_back(host);
            continue;
          }
          std::string where = host.empty() ? "on every host" : "on host \"" + host + "\"";
          std::string what = std::string(pathTypeName(route.pathType)) + " \"" + route.path + "\" " +
                             where;
          if (!haveFields) what += " (route " + route.name + ")";
          reporter.invalid(haveFields ? out.routeFields[r] : std::string(), "Conflict",
                           what + " is already served by " + winner.kind + " " +
                               winner.ns + "/" + winner.name +
                               ", which is older (the oldest object wins); not served here");
        }
        if (won.size() != hosts.size()) {
          if (won.empty()) {
            lostAll = true;
          } else {
            route.hosts = std::move(won);
          }
        }
      }
      if (lostAll) continue;
      kept.push_back(std::move(route));
      if (haveFields) keptFields.push_back(std::move(out.routeFields[r]));
    }
    routes = std::move(kept);
    if (haveFields) out.routeFields = std::move(keptFields);
  }
}

}  // namespace

RenderResult render(const ObjectSnapshot& objects, const RenderOptions& options) {
  ObjectIndex index(objects);
  ClassSelector classes(index, options);
  RenderResult result;
  std::vector<ObjectOutput> outputs;
  renderApiRoutes(objects, index, classes, options, outputs, result.diagnostics);
  renderIngresses(objects, index, classes, options, outputs, result.diagnostics,
                  result.ownedIngresses);

  std::stable_sort(outputs.begin(), outputs.end(), [](const ObjectOutput& a, const ObjectOutput& b) {
    return std::tie(a.creationTimestamp, a.ns, a.name, a.kind) <
           std::tie(b.creationTimestamp, b.ns, b.name, b.kind);
  });
  resolveConflicts(outputs, result.diagnostics);
  TableBuilder table;
  for (auto& out : outputs) {
    for (auto& route : out.part.routes) table.addRoute(std::move(route));
    for (auto& cert : out.part.certificates) table.addCertificate(std::move(cert));
    table.addRedirectHosts(out.part.httpsRedirectHosts);
  }
  result.table = std::move(table).finish();
  return result;
}

}  // namespace portico::controller
