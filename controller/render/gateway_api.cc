#include "controller/render/gateway_api.h"

#include <algorithm>
#include <map>
#include <set>

#include "controller/render/secrets.h"
#include "controller/render/validation.h"

namespace portico::controller {

using nlohmann::json;

namespace gwjson {
std::string str(const json* object, std::string_view key) {
  if (!object || !object->is_object()) return {};
  const json* v = member(*object, key);
  return v && v->is_string() ? v->get<std::string>() : std::string();
}

std::string strOr(const json* object, std::string_view key, std::string fallback) {
  if (object && object->is_object() && member(*object, key)) return str(object, key);
  return fallback;
}

const json* at(const json* object, std::string_view key) {
  return object && object->is_object() ? member(*object, key) : nullptr;
}
}  // namespace gwjson

using namespace gwjson;

namespace {

// The HTTPS listener's certificateRefs, resolved (Secrets only, core group).
void readCertificates(ListenerModel& l, const json& listener, const std::string& gwNs, const ObjectIndex& index) {
  const json* tls = at(&listener, "tls");
  if (strOr(tls, "mode", "Terminate") != "Terminate") {
    l.accepted = {"Accepted", false, "UnsupportedValue", "TLS mode Passthrough is not supported on HTTPS listeners"};
    return;
  }
  const json* refs = at(tls, "certificateRefs");
  if (!refs || !refs->is_array() || refs->empty()) {
    l.resolvedRefs = {"ResolvedRefs", false, "InvalidCertificateRef", "HTTPS listener needs tls.certificateRefs"};
    return;
  }
  for (size_t i = 0; i < refs->size(); ++i) {
    const json& ref = (*refs)[i];
    const std::string group = str(&ref, "group");
    const std::string kind = strOr(&ref, "kind", "Secret");
    const std::string name = str(&ref, "name");
    const std::string ns = strOr(&ref, "namespace", gwNs);
    const std::string what = "certificateRefs[" + std::to_string(i) + "] " + kind + " " + ns + "/" + name;
    if ((!group.empty() && group != "core") || kind != "Secret") {
      l.resolvedRefs = {"ResolvedRefs", false, "InvalidCertificateRef", what + ": only core Secrets are supported"};
      return;
    }
    if (ns != gwNs && !referenceGranted(index, kGatewayGroup, "Gateway", gwNs, "", "Secret", ns, name)) {
      l.resolvedRefs = {"ResolvedRefs", false, "RefNotPermitted", what + ": no ReferenceGrant in " + ns + " allows it"};
      return;
    }
    std::vector<Diagnostic> ignored;
    Reporter reporter(ignored, ObjectRef{"Gateway", gwNs, ""});
    auto pair = resolveTlsSecret(index, ns, name, "", reporter);
    if (!pair) {
      l.resolvedRefs = {"ResolvedRefs", false, "InvalidCertificateRef",
                        what + ": " + (ignored.empty() ? std::string("invalid") : ignored.front().message)};
      return;
    }
    proxy::CertificateSpec cert;
    cert.name = ns + "/" + name;
    if (!l.hostname.empty()) cert.hosts = {l.hostname};
    // A listener for every host offers its certificate to any SNI name.
    cert.isDefault = l.hostname.empty();
    cert.certificatePem = std::move(pair->certificatePem);
    cert.privateKeyPem = std::move(pair->privateKeyPem);
    l.certificates.push_back(std::move(cert));
  }
}

void readAllowedRoutes(ListenerModel& l, const json& listener) {
  const json* allowed = at(&listener, "allowedRoutes");
  const json* namespaces = at(allowed, "namespaces");
  const std::string from = strOr(namespaces, "from", "Same");
  if (from == "All") l.from = ListenerModel::From::All;
  else if (from == "Selector") {
    l.from = ListenerModel::From::Selector;
    l.selector = at(namespaces, "selector");
  } else if (from == "Same") l.from = ListenerModel::From::Same;
  else l.from = ListenerModel::From::None;
  const json* kinds = at(allowed, "kinds");
  if (!kinds || !kinds->is_array()) {
    l.supportedKinds = {"HTTPRoute"};  // the default for HTTP and HTTPS
    return;
  }
  l.allowsHTTPRoute = false;
  std::vector<std::string> invalid;
  for (const auto& k : *kinds) {
    const std::string group = strOr(&k, "group", std::string(kGatewayGroup));
    const std::string kind = str(&k, "kind");
    if (group == kGatewayGroup && kind == "HTTPRoute") {
      l.allowsHTTPRoute = true;
      if (l.supportedKinds.empty()) l.supportedKinds.push_back(kind);
    } else {
      invalid.push_back(group + "/" + kind);
    }
  }
  if (!invalid.empty()) {
    std::string list;
    for (const auto& k : invalid) list += (list.empty() ? "" : ", ") + k;
    l.resolvedRefs = {"ResolvedRefs", false, "InvalidRouteKinds", "unsupported route kinds: " + list};
  }
}

// HostnameConflict: two listeners of one port and protocol with the same hostname.
// ProtocolConflict: one port, different protocols.
void markConflicts(std::vector<ListenerModel>& listeners) {
  std::map<int64_t, std::set<std::string>> protocols;
  for (const auto& l : listeners) protocols[l.port].insert(l.protocol);
  std::map<std::tuple<int64_t, std::string, std::string>, int> hosts;
  for (const auto& l : listeners) ++hosts[{l.port, l.protocol, l.hostname}];
  for (auto& l : listeners) {
    if (protocols[l.port].size() > 1) {
      l.conflicted = {"Conflicted", true, "ProtocolConflict",
                      "another listener on port " + std::to_string(l.port) + " uses a different protocol"};
    } else if (hosts[{l.port, l.protocol, l.hostname}] > 1) {
      l.conflicted = {"Conflicted", true, "HostnameConflict",
                      "another listener on port " + std::to_string(l.port) + " has the same hostname"};
    }
  }
}

bool expressionMatches(const json& e, const json* labels) {
  const std::string key = str(&e, "key");
  const std::string op = str(&e, "operator");
  const json* value = labels ? at(labels, key) : nullptr;
  const bool has = value && value->is_string();
  std::set<std::string> values;
  if (const json* vs = at(&e, "values"); vs && vs->is_array()) {
    for (const auto& v : *vs) {
      if (v.is_string()) values.insert(v.get<std::string>());
    }
  }
  if (op == "In") return has && values.count(value->get<std::string>());
  if (op == "NotIn") return !has || !values.count(value->get<std::string>());
  if (op == "Exists") return has;
  if (op == "DoesNotExist") return !has;
  return false;  // an unknown operator selects nothing
}

bool namespaceAllowed(const ListenerModel& l, const std::string& routeNs, const std::string& gwNs,
                      const ObjectIndex& index) {
  switch (l.from) {
    case ListenerModel::From::All: return true;
    case ListenerModel::From::Same: return routeNs == gwNs;
    case ListenerModel::From::None: return false;
    case ListenerModel::From::Selector: {
      if (!l.selector) return false;
      const json* ns = index.namespaceObject(routeNs);
      const json* labels = ns ? at(at(ns, "metadata"), "labels") : nullptr;
      return labelsMatch(*l.selector, labels);
    }
  }
  return false;
}

// Gateway API wildcards match one or more labels: "*.example.com" matches "a.b.example.com".
bool wildcardCovers(const std::string& wildcard, const std::string& host) {
  const std::string suffix = wildcard.substr(1);  // ".example.com"
  return host.size() > suffix.size() && host.ends_with(suffix) && host[0] != '*';
}

}  // namespace

bool isOurGatewayClass(const ObjectIndex& index, const std::string& className, const std::string& controllerName) {
  const json* cls = index.gatewayClass(className);
  // A class with parametersRef is refused (Portico takes no parameters): not served.
  return cls && str(at(cls, "spec"), "controllerName") == controllerName && !at(at(cls, "spec"), "parametersRef");
}

bool labelsMatch(const json& selector, const json* labels) {
  if (!selector.is_object()) return false;
  if (const json* match = at(&selector, "matchLabels"); match && match->is_object()) {
    for (auto it = match->begin(); it != match->end(); ++it) {
      const json* have = labels ? at(labels, it.key()) : nullptr;
      if (!have || *have != *it) return false;
    }
  }
  if (const json* exprs = at(&selector, "matchExpressions"); exprs && exprs->is_array()) {
    for (const auto& e : *exprs) {
      if (!expressionMatches(e, labels)) return false;
    }
  }
  return true;  // an empty selector selects every namespace, as in Kubernetes
}

bool referenceGranted(const ObjectIndex& index, std::string_view fromGroup, std::string_view fromKind,
                      const std::string& fromNs, std::string_view toGroup, std::string_view toKind,
                      const std::string& toNs, const std::string& toName) {
  for (const json* grant : index.referenceGrants(toNs)) {
    const json* spec = at(grant, "spec");
    bool fromOk = false, toOk = false;
    if (const json* from = at(spec, "from"); from && from->is_array()) {
      for (const auto& f : *from) {
        fromOk = fromOk || (str(&f, "group") == fromGroup && str(&f, "kind") == fromKind && str(&f, "namespace") == fromNs);
      }
    }
    if (const json* to = at(spec, "to"); to && to->is_array()) {
      for (const auto& t : *to) {
        const std::string name = str(&t, "name");
        toOk = toOk || (str(&t, "group") == toGroup && str(&t, "kind") == toKind && (name.empty() || name == toName));
      }
    }
    if (fromOk && toOk) return true;
  }
  return false;
}

GatewayModel readGateway(const json& gateway, const ObjectIndex& index) {
  GatewayModel gw;
  gw.ns = metadataString(gateway, "namespace");
  gw.name = metadataString(gateway, "name");
  const json* spec = at(&gateway, "spec");
  gw.className = str(spec, "gatewayClassName");
  if (const json* addresses = at(spec, "addresses"); addresses && addresses->is_array() && !addresses->empty()) {
    gw.notAccepted = GatewayCondition{"Accepted", false, "UnsupportedAddress",
                                      "spec.addresses is not supported: Portico publishes the addresses of its Service"};
  }
  const json* listeners = at(spec, "listeners");
  if (!listeners || !listeners->is_array()) return gw;
  for (const auto& listener : *listeners) {
    ListenerModel l;
    l.name = str(&listener, "name");
    l.protocol = str(&listener, "protocol");
    if (const json* port = at(&listener, "port"); port && port->is_number_integer()) l.port = port->get<int64_t>();
    l.hostname = toLower(str(&listener, "hostname"));
    readAllowedRoutes(l, listener);
    if (l.protocol == "HTTPS") {
      readCertificates(l, listener, gw.ns, index);
    } else if (l.protocol != "HTTP") {
      l.accepted = {"Accepted", false, "UnsupportedProtocol", "protocol " + l.protocol + " is not supported"};
      l.supportedKinds.clear();
    }
    gw.listeners.push_back(std::move(l));
  }
  markConflicts(gw.listeners);
  if (!gw.notAccepted && !gw.listeners.empty() &&
      std::none_of(gw.listeners.begin(), gw.listeners.end(), [](const ListenerModel& l) { return l.accepted.status; })) {
    gw.notAccepted = GatewayCondition{"Accepted", false, "ListenersNotValid", "no listener is valid"};
  }
  return gw;
}

std::optional<std::vector<std::string>> intersectHostnames(const std::string& listener,
                                                           const std::vector<std::string>& route) {
  if (listener.empty()) return route;
  if (route.empty()) return std::vector<std::string>{listener};
  std::vector<std::string> out;
  const bool listenerWild = listener.starts_with("*.");
  for (const auto& h : route) {
    const bool routeWild = h.starts_with("*.");
    std::string kept;
    if (h == listener) kept = h;
    else if (listenerWild && !routeWild && wildcardCovers(listener, h)) kept = h;
    else if (routeWild && !listenerWild && wildcardCovers(h, listener)) kept = listener;
    else if (listenerWild && routeWild) {
      if (wildcardCovers(listener, h.substr(2))) kept = h;  // the route's is narrower
      else if (wildcardCovers(h, listener.substr(2))) kept = listener;
    }
    if (!kept.empty() && std::find(out.begin(), out.end(), kept) == out.end()) out.push_back(kept);
  }
  if (out.empty()) return std::nullopt;
  return out;
}

std::vector<ParentAttachment> attachParents(const json& route, const ObjectIndex& index,
                                            const std::string& controllerName) {
  std::vector<ParentAttachment> out;
  const std::string routeNs = metadataString(route, "namespace");
  const json* spec = at(&route, "spec");
  std::vector<std::string> hostnames;
  if (const json* hs = at(spec, "hostnames"); hs && hs->is_array()) {
    for (const auto& h : *hs) {
      if (h.is_string()) hostnames.push_back(toLower(h.get<std::string>()));
    }
  }
  const json* refs = at(spec, "parentRefs");
  if (!refs || !refs->is_array()) return out;
  for (const auto& ref : *refs) {
    ParentAttachment a;
    a.parentRef = ref;
    if (strOr(&ref, "group", std::string(kGatewayGroup)) != kGatewayGroup || strOr(&ref, "kind", "Gateway") != "Gateway") {
      out.push_back(std::move(a));  // not a Gateway: not ours to judge
      continue;
    }
    const std::string ns = strOr(&ref, "namespace", routeNs);
    const std::string name = str(&ref, "name");
    a.gatewayKey = ns + "/" + name;
    const json* gateway = index.gateway(ns, name);
    if (!gateway) {
      out.push_back(std::move(a));
      continue;
    }
    const GatewayModel gw = readGateway(*gateway, index);
    if (!isOurGatewayClass(index, gw.className, controllerName)) {
      out.push_back(std::move(a));
      continue;
    }
    a.ours = true;
    if (gw.notAccepted) {
      a.reason = "NoMatchingParent";
      a.message = "Gateway " + a.gatewayKey + " is not accepted: " + gw.notAccepted->message;
      out.push_back(std::move(a));
      continue;
    }
    const std::string section = str(&ref, "sectionName");
    const json* port = at(&ref, "port");
    bool anyCandidate = false, anyAllowed = false;
    std::set<std::string> hosts;
    for (const auto& l : gw.listeners) {
      if (!section.empty() && l.name != section) continue;
      if (port && port->is_number_integer() && port->get<int64_t>() != l.port) continue;
      if (!l.attachable()) continue;
      anyCandidate = true;
      if (!l.allowsHTTPRoute || !namespaceAllowed(l, routeNs, gw.ns, index)) continue;
      anyAllowed = true;
      auto kept = intersectHostnames(l.hostname, hostnames);
      if (!kept) continue;
      a.listeners.push_back(l.name);
      if (!l.usable()) continue;
      a.served = true;
      if (kept->empty()) a.anyHost = true;
      hosts.insert(kept->begin(), kept->end());
    }
    if (!anyCandidate) {
      a.reason = "NoMatchingParent";
      a.message = "no valid listener of Gateway " + a.gatewayKey + " matches sectionName/port";
    } else if (!anyAllowed) {
      a.reason = "NotAllowedByListeners";
      a.message = "no listener of Gateway " + a.gatewayKey + " allows HTTPRoutes from namespace " + routeNs;
    } else if (a.listeners.empty()) {
      a.reason = "NoMatchingListenerHostname";
      a.message = "no listener hostname of Gateway " + a.gatewayKey + " intersects spec.hostnames";
    } else {
      a.accepted = true;
      a.reason = "Accepted";
      a.message = "Accepted by portico";
      if (!a.anyHost) a.hosts.assign(hosts.begin(), hosts.end());
    }
    out.push_back(std::move(a));
  }
  return out;
}

}  // namespace portico::controller
