#include "controller/render/httproute.h"
#include "controller/render/validation.h"

#include <algorithm>

#include "controller/render/backends.h"
#include "controller/render/field_path.h"
#include "controller/render/gateway_api.h"
#include "controller/render/httproute_schemas.h"

namespace portico::controller {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

constexpr std::string_view kKind = "HTTPRoute";
// "0s" turns a Gateway API timeout off; the proxy always has one, so a day stands for none.
constexpr proxy::Millis kNoTimeout = std::chrono::hours(24);


uint16_t defaultPort(std::string_view scheme) { return scheme == "https" ? 443 : 80; }

// RE2 rewrite strings give '\' a meaning; a literal path must escape it.
std::string rewriteLiteral(const std::string& path) {
  std::string out;
  for (char c : path) {
    if (c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  return out;
}

class HttpRouteTranslator {
 public:
  HttpRouteTranslator(const json& object, const ObjectIndex& index, const RenderOptions& options, Reporter& reporter)
      : object_(object), index_(index), options_(options), reporter_(reporter), ns_(reporter.object().ns),
        name_(reporter.object().name) {}

  void translate(std::vector<std::string> hosts, ObjectOutput& out) {
    const json* spec = member(object_, "spec");
    const json* rules = spec ? member(*spec, "rules") : nullptr;
    if (!rules || !rules->is_array() || rules->empty()) {
      // The API's default: one rule sending everything nowhere is not useful; the CRD
      // defaults rules to [{matches: [{path: PathPrefix /}]}] without backends.
      static const json kDefault = json::array({json::object()});
      rules = &kDefault;
    }
    for (size_t i = 0; i < rules->size(); ++i) {
      const std::string field = indexField("spec.rules", i);
      translateRule((*rules)[i], i, field, hosts, out);
    }
  }

 private:
  bool acceptedProblems(size_t before) const;
  void translateRule(const json& rule, size_t index, const std::string& field, const std::vector<std::string>& hosts,
                     ObjectOutput& out);
  bool applyFilters(const GwRule& rule, const std::string& field, proxy::RouteSpec& route, bool prefixMatch);
  // The Services the rule sends to; `unresolvedWeight` gets the weight of the references
  // that did not resolve (their status says why).
  std::vector<proxy::BackendSpec> resolveBackends(const GwRule& rule, const std::string& field, bool& unsupported,
                                                  uint32_t& unresolvedWeight);

  const json& object_;
  const ObjectIndex& index_;
  const RenderOptions& options_;
  Reporter& reporter_;
  std::string ns_;
  std::string name_;
};

void HttpRouteTranslator::translateRule(const json& ruleJson, size_t index, const std::string& field,
                                        const std::vector<std::string>& hosts, ObjectOutput& out) {
  if (!ruleJson.is_object()) {
    reporter_.invalid(field, "InvalidField", "must be an object, not " + jsonTypeName(ruleJson));
    return;
  }
  const size_t before = reporter_.count();
  GwRule rule;
  httpRouteRuleSchema().read(ruleJson, field, rule, reporter_);
  for (const auto& name : rule.unsupported) {
    reporter_.invalid(childField(field, name), "UnsupportedValue", "is not supported by portico");
  }
  if (reporter_.count() != before) return;  // nothing of the rule was refused by a backend yet
  bool unsupported = false;
  uint32_t unresolvedWeight = 0;
  std::vector<proxy::BackendSpec> backends = resolveBackends(rule, field, unsupported, unresolvedWeight);
  if (unsupported) return;
  // No backendRefs at all: every request is answered 500 (unless a filter answers first).
  if (rule.backendRefs.empty()) unresolvedWeight = 1;
  if (rule.matches.empty()) rule.matches.emplace_back();  // PathPrefix "/"

  for (size_t j = 0; j < rule.matches.size(); ++j) {
    const GwMatch& match = rule.matches[j];
    proxy::RouteSpec route;
    route.name = ns_ + "/" + name_ + "/rule" + std::to_string(index) + ".match" + std::to_string(j);
    route.hosts = hosts;
    route.wildcardAnyDepth = true;  // "*.example.com" covers a.b.example.com in the Gateway API
    route.pathType = match.path.type;
    route.path = match.path.value;
    if (match.method) route.methods = {*match.method};
    route.headers = match.headers;
    for (const auto& q : match.queryParams) route.query.push_back(proxy::QueryMatch{q.name, q.value});
    route.backends = backends;
    route.unresolvedBackendWeight = unresolvedWeight;
    if (rule.timeouts.request) route.timeouts.request = rule.timeouts.request->count() ? *rule.timeouts.request : kNoTimeout;
    if (rule.timeouts.backendRequest && rule.timeouts.backendRequest->count()) {
      // No retries on HTTPRoute: one backend request is the whole exchange.
      route.timeouts.request = std::min(route.timeouts.request, *rule.timeouts.backendRequest);
    }
    if (!applyFilters(rule, field, route, match.path.type == proxy::PathMatchType::Prefix)) return;
    out.part.routes.push_back(std::move(route));
    out.routeFields.push_back(rule.matches.size() > 1 ? indexField(childField(field, "matches"), j) : field);
  }
}

bool HttpRouteTranslator::applyFilters(const GwRule& rule, const std::string& field, proxy::RouteSpec& route,
                                       bool prefixMatch) {
  for (size_t i = 0; i < rule.filters.size(); ++i) {
    const GwFilter& f = rule.filters[i];
    const std::string ff = indexField(childField(field, "filters"), i);
    if (f.type == "RequestHeaderModifier" && f.requestHeaderModifier) {
      route.requestHeaders = *f.requestHeaderModifier;
    } else if (f.type == "ResponseHeaderModifier" && f.responseHeaderModifier) {
      route.responseHeaders = *f.responseHeaderModifier;
    } else if (f.type == "RequestRedirect" && f.requestRedirect) {
      const GwRedirect& r = *f.requestRedirect;
      proxy::RedirectSpec redirect;
      redirect.scheme = r.scheme;
      redirect.host = r.hostname;
      // The well-known port of the scheme is left out of Location, as the API asks.
      if (r.port && !(r.scheme && *r.port == defaultPort(*r.scheme))) redirect.port = static_cast<uint16_t>(*r.port);
      redirect.status = static_cast<unsigned>(r.statusCode);
      if (r.path) {
        if (r.path->type == "ReplaceFullPath" && r.path->replaceFullPath) {
          redirect.path = *r.path->replaceFullPath;
        } else {
          reporter_.invalid(childField(ff, "requestRedirect.path"), "UnsupportedValue",
                            quote(r.path->type) + " is not supported in redirects (ReplaceFullPath only)");
          return false;
        }
      }
      route.redirect = std::move(redirect);
    } else if (f.type == "URLRewrite" && f.urlRewrite) {
      const GwRewrite& r = *f.urlRewrite;
      if (r.hostname) route.rewriteHost = *r.hostname;
      if (r.path && r.path->type == "ReplaceFullPath" && r.path->replaceFullPath) {
        route.rewritePathRegex = proxy::RegexRewriteSpec{"^.*$", rewriteLiteral(*r.path->replaceFullPath)};
      } else if (r.path && r.path->type == "ReplacePrefixMatch" && r.path->replacePrefixMatch && prefixMatch) {
        route.rewritePathPrefix = *r.path->replacePrefixMatch;
      } else if (r.path) {
        reporter_.invalid(childField(ff, "urlRewrite.path"), "UnsupportedValue",
                          quote(r.path->type) + " needs its value (and ReplacePrefixMatch a PathPrefix match)");
        return false;
      }
    } else {
      // RequestMirror (the proxy has no mirroring), ExtensionRef, CORS, ExternalAuth; or a
      // type without its configuration.
      reporter_.invalid(ff, "UnsupportedValue", "filter type " + quote(f.type) + " is not supported by portico");
      return false;
    }
  }
  return true;
}

std::vector<proxy::BackendSpec> HttpRouteTranslator::resolveBackends(const GwRule& rule, const std::string& field,
                                                                     bool& unsupported, uint32_t& unresolvedWeight) {
  std::vector<proxy::BackendSpec> out;
  for (size_t i = 0; i < rule.backendRefs.size(); ++i) {
    const GwBackendRef& ref = rule.backendRefs[i];
    const std::string bf = indexField(childField(field, "backendRefs"), i);
    if (ref.hasFilters) {
      reporter_.invalid(childField(bf, "filters"), "UnsupportedValue", "backendRef filters are not supported");
      unsupported = true;
      return {};
    }
    const std::string ns = ref.ns.value_or(ns_);
    const std::string what = ref.kind + " " + ns + "/" + ref.name;
    auto unresolved = [&](std::string_view reason, const std::string& message) {
      reporter_.unresolved(bf, reason, message);
      unresolvedWeight += static_cast<uint32_t>(ref.weight);
    };
    if (!(ref.group.empty() || ref.group == "core") || ref.kind != "Service") {
      unresolved("InvalidKind", what + ": only core Services are supported backends");
      continue;
    }
    if (ns != ns_ && !referenceGranted(index_, kGatewayGroup, kKind, ns_, "", "Service", ns, ref.name)) {
      unresolved("RefNotPermitted", what + ": no ReferenceGrant in " + ns + " allows it");
      continue;
    }
    if (!ref.port) {
      unresolved("BackendNotFound", what + ": port is required");
      continue;
    }
    ServicePortRef port;
    port.number = static_cast<uint16_t>(*ref.port);
    auto backend = resolveServiceBackend(index_, ns, ref.name, port);
    if (!backend) {
      unresolved("BackendNotFound", what + ": " + backend.error().message);
      continue;
    }
    if (ref.weight == 0) continue;  // resolved, but takes no traffic
    backend->weight = static_cast<uint32_t>(ref.weight);
    out.push_back(std::move(*backend));
  }
  return out;
}

}  // namespace

std::optional<ObjectOutput> renderHttpRoute(const OrderedObject& o, const ObjectIndex& index,
                                            const RenderOptions& options, std::vector<Diagnostic>& diagnostics) {
  std::vector<ParentAttachment> parents = attachParents(*o.object, index, options.gatewayControllerName);
  bool accepted = false, anyHost = false;
  std::vector<std::string> hosts, addresses;
  for (const auto& p : parents) {
    if (!p.accepted || !p.served) continue;
    if (!options.gatewayAddresses.empty()) {
      // Served only on the Gateway's own address, once its status publishes one.
      const size_t slash = p.gatewayKey.find('/');
      const json* gateway = index.gateway(p.gatewayKey.substr(0, slash), p.gatewayKey.substr(slash + 1));
      auto address = gateway ? publishedGatewayAddress(*gateway, options.gatewayAddresses) : std::nullopt;
      if (!address) continue;
      if (std::find(addresses.begin(), addresses.end(), *address) == addresses.end()) addresses.push_back(*address);
    }
    accepted = true;
    anyHost = anyHost || p.anyHost;
    for (const auto& h : p.hosts) {
      if (std::find(hosts.begin(), hosts.end(), h) == hosts.end()) hosts.push_back(h);
    }
  }
  if (!accepted) return std::nullopt;  // the parents' status says why
  if (anyHost) hosts.clear();
  std::sort(hosts.begin(), hosts.end());
  ObjectOutput out{o.created, o.ns, o.name, std::string(kKind), {}, {}};
  Reporter reporter(diagnostics, ObjectRef{std::string(kKind), o.ns, o.name});
  HttpRouteTranslator(*o.object, index, options, reporter).translate(std::move(hosts), out);
  std::sort(addresses.begin(), addresses.end());
  for (auto& route : out.part.routes) route.localAddresses = addresses;
  return out;
}

size_t httpRouteRuleDiagnostics(const OrderedObject& o, const ObjectIndex& index, const RenderOptions& options,
                                std::vector<Diagnostic>& diagnostics) {
  ObjectOutput out;
  Reporter reporter(diagnostics, ObjectRef{std::string(kKind), o.ns, o.name});
  HttpRouteTranslator(*o.object, index, options, reporter).translate({}, out);
  return out.part.routes.size();
}

std::optional<ObjectOutput> renderGateway(const OrderedObject& o, const ObjectIndex& index,
                                          const RenderOptions& options) {
  GatewayModel gw = readGateway(*o.object, index);
  if (!isOurGatewayClass(index, gw.className, options.gatewayControllerName) || gw.notAccepted) return std::nullopt;
  ObjectOutput out{o.created, o.ns, o.name, "Gateway", {}, {}};
  TableBuilder table;
  for (auto& l : gw.listeners) {
    if (!l.usable()) continue;
    for (auto& cert : l.certificates) table.addCertificate(std::move(cert));
  }
  out.part = std::move(table).finish();
  if (out.part.certificates.empty()) return std::nullopt;
  return out;
}

void renderGatewayApi(const std::vector<const json*>& gateways, const std::vector<const json*>& routes,
                      const ObjectIndex& index, const RenderOptions& options, std::vector<ObjectOutput>& outputs,
                      std::vector<Diagnostic>& diagnostics) {
  for (const auto& o : inCreationOrder(gateways)) {
    if (auto out = renderGateway(o, index, options)) outputs.push_back(std::move(*out));
  }
  for (const auto& o : inCreationOrder(routes)) {
    if (auto out = renderHttpRoute(o, index, options, diagnostics)) outputs.push_back(std::move(*out));
  }
}

}  // namespace portico::controller
