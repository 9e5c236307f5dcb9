// Host + path conflicts between objects, shared by the full render (render.cc) and the
// incremental one (incremental.cc). Internal to render.
//
// The same host + pathType + path claimed by two objects goes to the oldest claimant (the
// first in creation order: creationTimestamp, namespace, name, kind); a later object loses
// that host for that path, with a Conflict diagnostic, unless both are APIRoutes or
// HTTPRoutes (their rules may share a path and differ in methods, headers or query; the
// router orders them). So an Ingress and an HTTPRoute on one host + path: the older wins.
// Regular expressions are never compared (no Ingress has one). Layer-4 routes claim a
// listener port, or a port and a TLS server name, and never share a claim (a connection
// goes to one route): the older APIRoute keeps it.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "controller/render/render_context.h"

namespace portico::controller {

// APIRoute and HTTPRoute rules may share a host + path and differ in methods, headers or
// query (the router orders them, then by age); an Ingress path is exclusive.
inline bool sharesClaims(std::string_view kind) { return kind == "APIRoute" || kind == "HTTPRoute"; }

// The API name of a path match type (api_names.h).
std::string_view pathTypeName(proxy::PathMatchType type);

// What a route claims on one host: "host \n type \n path". Prefix paths are compared as the
// router matches them: trailing slashes do not count ("/foo/" claims what "/foo" claims).
std::string claimKey(std::string_view host, proxy::PathMatchType type, std::string_view path);

// What a layer-4 route claims: its port, with one of its SNI names ("": the whole port).
std::string streamClaimKey(uint16_t port, std::string_view serverName);

// Every claim key of `out`'s routes, in route order then host order ("" for a route on every
// host); regex routes claim nothing. Repeats are kept.
std::vector<std::string> claimsOf(const ObjectOutput& out);

// The object a claim belongs to.
struct ClaimOwner {
  std::string_view kind;
  std::string_view ns;
  std::string_view name;
  bool self = false;  // the object being settled is the owner
};

// What the conflicts leave of one route of `out` (`route`, whose field is
// out.routeFields[r] if `haveFields`): nullopt = all of it; an empty list = nothing;
// else the hosts it keeps. Reports a Conflict diagnostic for each host it loses.
// `ownerOf(claimKey)` names the oldest claimant of a key (asked once per host of a
// non-regex route, in order).
template <class OwnerOf>
std::optional<std::vector<std::string>> settleRoute(const ObjectOutput& out, size_t r, const proxy::RouteSpec& route,
                                                    bool haveFields, OwnerOf&& ownerOf, Reporter& reporter);

// Drops from `out` the hosts (and routes left without hosts) it loses to older objects, with
// a Conflict diagnostic each (settleRoute for every route).
template <class OwnerOf>
void settleConflicts(ObjectOutput& out, OwnerOf&& ownerOf, std::vector<Diagnostic>& diagnostics);

// ---- implementation ----

void reportConflict(const ObjectOutput& out, size_t r, const proxy::RouteSpec& route, const std::string& host,
                    const ClaimOwner& winner, bool haveFields, Reporter& reporter);

// Narrows `route` to what settleRoute said it won: its hosts, or a layer-4 route's names.
inline void keepWonClaims(proxy::RouteSpec& route, std::vector<std::string> won) {
  (route.stream ? route.stream->sniHosts : route.hosts) = std::move(won);
}

// settleRoute for a layer-4 route: the SNI names it keeps, as above.
template <class OwnerOf>
std::optional<std::vector<std::string>> settleStreamRoute(const ObjectOutput& out, size_t r,
                                                          const proxy::RouteSpec& route, bool haveFields,
                                                          OwnerOf&& ownerOf, Reporter& reporter) {
  const proxy::StreamSpec& stream = *route.stream;
  const std::vector<std::string> names = stream.sniHosts.empty() ? std::vector<std::string>{""} : stream.sniHosts;
  std::vector<std::string> won;
  for (const auto& name : names) {
    const ClaimOwner winner = ownerOf(streamClaimKey(stream.port, name));
    if (winner.self) {
      won.push_back(name);
      continue;
    }
    reportConflict(out, r, route, name, winner, haveFields, reporter);
  }
  if (won.size() == names.size()) return std::nullopt;
  return won;
}

template <class OwnerOf>
std::optional<std::vector<std::string>> settleRoute(const ObjectOutput& out, size_t r, const proxy::RouteSpec& route,
                                                    bool haveFields, OwnerOf&& ownerOf, Reporter& reporter) {
  if (route.stream) return settleStreamRoute(out, r, route, haveFields, ownerOf, reporter);
  if (route.pathType == proxy::PathMatchType::RegularExpression) return std::nullopt;
  // Hosts are checked one by one: a route keeps the hosts it won. The catch-all ("") is a
  // host of its own here, and a route never widens to it by losing its hosts.
  const std::vector<std::string> hosts = route.hosts.empty() ? std::vector<std::string>{""} : route.hosts;
  std::vector<std::string> won;
  for (const auto& host : hosts) {
    const ClaimOwner winner = ownerOf(claimKey(host, route.pathType, route.path));
    if (winner.self || (sharesClaims(winner.kind) && sharesClaims(out.kind))) {
      won.push_back(host);
      continue;
    }
    reportConflict(out, r, route, host, winner, haveFields, reporter);
  }
  if (won.size() == hosts.size()) return std::nullopt;
  return won;
}

template <class OwnerOf>
void settleConflicts(ObjectOutput& out, OwnerOf&& ownerOf, std::vector<Diagnostic>& diagnostics) {
  auto& routes = out.part.routes;
  const bool haveFields = out.routeFields.size() == routes.size();
  std::vector<proxy::RouteSpec> kept;
  std::vector<std::string> keptFields;
  kept.reserve(routes.size());
  Reporter reporter(diagnostics, ObjectRef{out.kind, out.ns, out.name});
  for (size_t r = 0; r < routes.size(); ++r) {
    proxy::RouteSpec& route = routes[r];
    if (std::optional<std::vector<std::string>> won = settleRoute(out, r, route, haveFields, ownerOf, reporter)) {
      if (won->empty()) continue;
      keepWonClaims(route, std::move(*won));
    }
    kept.push_back(std::move(route));
    if (haveFields) keptFields.push_back(std::move(out.routeFields[r]));
  }
  routes = std::move(kept);
  if (haveFields) out.routeFields = std::move(keptFields);
}

}  // namespace portico::controller
