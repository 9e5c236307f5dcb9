// render: the pure translation from a snapshot of Kubernetes-shaped objects to the
// proxy's RouteTableSpec plus per-object diagnostics. No I/O, no clock, no globals:
// the same snapshot always gives a byte-identical result. Both the Kubernetes
// controller and the standalone file source call it.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "controller/objects/object_snapshot.h"
#include "proxy/config/route_spec.h"

namespace portico::controller {

struct ObjectRef {
  std::string kind;
  std::string ns;
  std::string name;
  std::string toString() const { return kind + " " + (ns.empty() ? "" : ns + "/") + name; }
};

// One finding about one object: which status condition it affects and why.
struct Diagnostic {
  ObjectRef object;
  std::string field;      // JSON path in the object, e.g. "spec.rules[0].backends[1].port"
  std::string condition;  // "Accepted" or "ResolvedRefs"
  std::string reason;     // CamelCase, e.g. "InvalidRegex", "BackendNotFound"
  std::string message;    // "spec.rules[0].match.path.value: invalid RE2: missing )"
};

struct RenderOptions {
  std::string ingressClass = "portico";
  std::string controllerName = "portico.dev/ingress-controller";
  bool standalone = false;  // url: backends allowed; Service backends need a cluster
};

struct RenderResult {
  proxy::RouteTableSpec table;
  std::vector<Diagnostic> diagnostics;  // empty when every object rendered cleanly
  // Every Ingress of our class that was not rejected as a whole (it may have rendered only
  // partly, or lost all its paths to conflicts), oldest first: the Ingresses whose
  // status.loadBalancer the status writer sets. Kind "Ingress".
  std::vector<ObjectRef> ownedIngresses;
  // Every APIRoute with at least one route in the table (after conflicts), oldest first.
  std::vector<ObjectRef> routedAPIRoutes;
};

// Class: an object is ours if its ingressClassName names an IngressClass whose
// spec.controller is options.controllerName, or, when the snapshot has no IngressClass of
// that name, if it equals options.ingressClass (lenient, for out-of-cluster tests). An
// APIRoute without ingressClassName is ours; an Ingress without one follows the legacy
// annotation and the default IngressClass (controller/render/ingress.h). Objects that are
// not ours are skipped silently.
//
// Ingresses: see controller/render/ingress.h (rules, defaultBackend, TLS, portico.dev/
// annotations). Route names "namespace/name/rule<i>-path<j>" and
// "namespace/name/default-backend".
//
// Conflicts: the same host + pathType + path claimed by two objects, at least one of them
// an Ingress, goes to the oldest (creationTimestamp, then namespace/name); the other loses
// that host for that path with Accepted False, reason Conflict, naming the winner. Two
// APIRoutes may share a path (their rules differ by methods, headers or query; the router
// orders them).
//
// APIRoutes become one route per rule, named "namespace/name/rule", ordered by
// metadata.creationTimestamp (missing first), then namespace/name, then rule order, so
// the input order never matters; routes of all kinds merge in that order. Problems are
// isolated:
//  - Accepted False on an invalid or unknown field drops that rule only; the other rules
//    render. Invalid hosts, an unknown spec field or a missing spec drop the whole object.
//    Every rule field renders: match, backends, loadBalancing (policy, hashOn,
//    sessionAffinity, panicThresholdPercent), timeouts, retries, healthCheck,
//    outlierDetection, circuitBreaker, ipRules, cors, auth (apiKey, basic, jwt, external),
//    rateLimit, redirect (a rule without backends), rewrite (pathPrefix or regex), header
//    edits and limits; see controller/render/rule_policies.h for their rules. Reasons:
//    InvalidField, UnknownField, InvalidDuration, InvalidPath, InvalidRegex, InvalidCIDR,
//    InvalidHost, InvalidBackend, DuplicateRuleName.
//  - ResolvedRefs False (SecretNotFound, InvalidSecret) on an auth Secret (apiKey, basic,
//    jwt secretName, read from the APIRoute's namespace): the rule is not served at all, so
//    a protected route is never served unprotected. A changed Secret changes the table.
//  - ResolvedRefs False (BackendNotFound) on a backend that cannot be resolved (a missing
//    Service or port; any Service in standalone mode): the rule renders without that
//    backend, and with no backend left the proxy answers 503.
//  - ResolvedRefs False (SecretNotFound, InvalidSecret) on spec.tls: the routes render
//    over plain HTTP only, with no certificate and no https redirect.
// Messages read "<field>: <text>". No I/O; the same input gives the same output.
RenderResult render(const ObjectSnapshot& objects, const RenderOptions& options);
// The same over the store's shared objects (a full render; IncrementalRenderer in
// controller/render/incremental.h gives byte-identical results re-rendering only changes).
RenderResult render(const StoreSnapshot& objects, const RenderOptions& options);

}  // namespace portico::controller
