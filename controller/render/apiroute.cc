#include "controller/render/apiroute.h"

#include <algorithm>
#include <chrono>
#include <exception>
#include <limits>
#include <set>
#include <tuple>

#include "controller/render/api_names.h"
#include "controller/render/apiroute_translator.h"
#include "controller/render/backend_tls.h"
#include "controller/render/backends.h"
#include "controller/render/host_tls.h"
#include "controller/render/duration.h"
#include "controller/render/field_path.h"
#include "controller/render/rule_policies.h"
#include "controller/render/rule_schemas.h"
#include "controller/render/secrets.h"
#include "controller/render/validation.h"

namespace portico::controller {
namespace {

using nlohmann::json;

constexpr std::string_view kKind = "APIRoute";

// Rule names show in logs and metrics: a DNS label, like Gateway API section names.
bool isRuleName(std::string_view s) { return isDnsLabel(s); }

// An IANA service name as a Service port name: at most 15 characters, lower-case
// alphanumerics and '-', at least one letter.
bool isPortName(std::string_view s) {
  return isDnsLabel(s) && s.size() <= 15 &&
         std::any_of(s.begin(), s.end(), [](char c) { return c >= 'a' && c <= 'z'; });
}

}  // namespace

void ApiRouteTranslator::translate(TableBuilder& table, std::vector<std::string>& routeFields) {
  const json* spec = readObject(object_, "spec", "", reporter_, /*required=*/true);
  if (!spec) return;
  // Unknown top-level fields reject the whole object: a misplaced policy must not be
  // silently dropped.
  bool ok = checkKnownFields(*spec, "spec", {"ingressClassName", "hosts", "tls", "rules", "tcp"}, reporter_);
  ok = readHosts(*spec) && ok;
  if (member(*spec, "tcp")) {
    if (ok) translateTcp(*spec, table, routeFields);
    return;
  }
  const json* rules = readArray(*spec, "rules", "spec", reporter_, /*required=*/true);
  if (!ok || !rules) return;  // an invalid host list could widen the route to every host
  if (rules->empty()) {
    reporter_.invalid("spec.rules", "InvalidField", "at least one rule is required");
    return;
  }

  bool redirect = false;
  bool failClosed = false;
  std::optional<proxy::CertificateSpec> cert = readTls(*spec, redirect, failClosed);
  if (failClosed) return;  // never served without the client certificates it asks for

  std::vector<proxy::RouteSpec> routes;
  std::vector<std::string> fields;
  std::set<std::string> ruleNames;
  for (size_t i = 0; i < rules->size(); ++i) {
    std::string field = indexField("spec.rules", i);
    auto route = translateRule((*rules)[i], field, ruleNames);
    if (route) {
      routes.push_back(std::move(*route));
      fields.push_back(std::move(field));
    }
  }
  if (routes.empty()) return;
  for (auto& r : routes) table.addRoute(std::move(r));
  routeFields = std::move(fields);
  if (cert) {
    table.addCertificate(std::move(*cert));
    if (redirect) table.addRedirectHosts(hosts_);
  }
}

bool ApiRouteTranslator::readHosts(const json& spec) {
  const json* hosts = readArray(spec, "hosts", "spec", reporter_);
  if (!hosts) return member(spec, "hosts") == nullptr;
  bool ok = true;
  for (size_t i = 0; i < hosts->size(); ++i) {
    std::string field = indexField("spec.hosts", i);
    const json& h = (*hosts)[i];
    if (!h.is_string()) {
      reporter_.invalid(field, "InvalidField", "must be a string, not " + jsonTypeName(h));
      ok = false;
      continue;
    }
    std::string host = toLower(h.get_ref<const std::string&>());
    if (std::string why = checkRouteHost(host); !why.empty()) {
      reporter_.invalid(field, "InvalidHost", quote(host) + " " + why);
      ok = false;
      continue;
    }
    if (std::find(hosts_.begin(), hosts_.end(), host) == hosts_.end()) hosts_.push_back(host);
  }
  return ok;
}

// Problems here never drop routes: the route is then served over plain HTTP only. Except
// with clientAuth: then any problem drops them all (failClosed).
std::optional<proxy::CertificateSpec> ApiRouteTranslator::readTls(const json& spec, bool& redirect,
                                                                  bool& failClosed) {
  const json* tls = readObject(spec, "tls", "spec", reporter_);
  if (!tls) return std::nullopt;
  size_t before = reporter_.count();
  const bool wantsClientAuth = member(*tls, "clientAuth") != nullptr;
  failClosed = wantsClientAuth;  // until the certificate and its client auth are resolved
  checkKnownFields(*tls, "spec.tls", {"secretName", "redirectHTTP", "clientAuth", "hsts", "minVersion"}, reporter_);
  bool tls13Only = false;
  if (auto minVersion = readString(*tls, "minVersion", "spec.tls", reporter_)) {
    std::string why;
    if (auto only13 = tls13OnlyFrom(*minVersion, why)) tls13Only = *only13;
    else reporter_.invalid("spec.tls.minVersion", "InvalidField", why);
  }
  std::optional<ClientAuthFields> clientAuthFields;
  readNested(*tls, "clientAuth", "spec.tls", clientAuthSchema(), clientAuthFields, reporter_);
  std::optional<HstsFields> hsts;
  readNested(*tls, "hsts", "spec.tls", hstsSchema(), hsts, reporter_);
  auto secretName = readString(*tls, "secretName", "spec.tls", reporter_, /*required=*/true);
  redirect = readBool(*tls, "redirectHTTP", "spec.tls", reporter_).value_or(false);
  if (secretName && !isDnsSubdomain(*secretName)) {
    reporter_.invalid("spec.tls.secretName", "InvalidField",
                      quote(*secretName) + " is not a valid Secret name");
  }
  if (hosts_.empty()) {
    reporter_.invalid("spec.tls", "InvalidField",
                      "needs spec.hosts: certificates are selected by host name (SNI)");
  }
  if (reporter_.count() != before) return std::nullopt;
  auto pair = resolveTlsSecret(index_, ns_, *secretName, "spec.tls.secretName", reporter_);
  if (!pair) return std::nullopt;
  proxy::CertificateSpec cert;
  cert.name = ns_ + "/" + *secretName;
  cert.hosts = hosts_;
  cert.certificatePem = std::move(pair->certificatePem);
  cert.privateKeyPem = std::move(pair->privateKeyPem);
  if (hsts) cert.hsts = hstsHeader(*hsts);
  cert.tls13Only = tls13Only;
  if (clientAuthFields) {
    cert.clientAuth = resolveClientAuth(*clientAuthFields, index_, ns_, "spec.tls.clientAuth.caSecretName",
                                        "spec.tls.clientAuth.crlSecretName", reporter_);
    if (!cert.clientAuth) return std::nullopt;
  }
  failClosed = false;
  return cert;
}

std::optional<proxy::RouteSpec> ApiRouteTranslator::translateRule(const json& rule,
                                                                  const std::string& field,
                                                                  std::set<std::string>& ruleNames) {
  if (!rule.is_object()) {
    reporter_.invalid(field, "InvalidField", "must be an object, not " + jsonTypeName(rule));
    return std::nullopt;
  }
  bool ok = checkKnownFields(rule, field,
                             {"name", "match", "backends", "loadBalancing", "timeouts", "rewrite",
                              "requestHeaders", "responseHeaders", "limits", "auth", "rateLimit",
                              "cors", "retries", "healthCheck", "outlierDetection",
                              "circuitBreaker", "ipRules", "redirect"},
                             reporter_);

  proxy::RouteSpec route;
  auto ruleName = readString(rule, "name", field, reporter_, /*required=*/true);
  if (ruleName) {
    if (!isRuleName(*ruleName)) {
      reporter_.invalid(childField(field, "name"), "InvalidField",
                        quote(*ruleName) +
                            " must be a DNS label (lower-case letters, digits and '-')");
      ok = false;
    } else if (!ruleNames.insert(*ruleName).second) {
      reporter_.invalid(childField(field, "name"), "DuplicateRuleName",
                        quote(*ruleName) + " is used by an earlier rule");
      ok = false;
    }
  } else {
    ok = false;
  }

  route.name = ns_ + "/" + name_ + "/" + ruleName.value_or("");
  route.hosts = hosts_;
  ok = readMatch(rule, field, route) && ok;
  ok = RulePolicyReader(index_, ns_, reporter_).read(rule, field, route) && ok;
  ok = readTimeouts(rule, field, route) && ok;
  ok = readRewrite(rule, field, route) && ok;
  ok = readHeaderEdits(rule, "requestHeaders", field, route.requestHeaders) && ok;
  ok = readHeaderEdits(rule, "responseHeaders", field, route.responseHeaders) && ok;
  ok = readLimits(rule, field, route) && ok;
  // Backends last: their ResolvedRefs problems do not reject the rule. A redirect rule is
  // answered by Portico and has none.
  if (route.redirect || (member(rule, "redirect") && !member(rule, "backends"))) {
    if (member(rule, "backends")) {
      reporter_.invalid(childField(field, "backends"), "InvalidField",
                        "must not be set with redirect (the rule is answered by Portico)");
      ok = false;
    }
    if (route.redirect && (route.rewritePathPrefix || route.rewritePathRegex || route.rewriteHost)) {
      reporter_.invalid(childField(field, "rewrite"), "InvalidField",
                        "has no effect with redirect (use redirect.path and redirect.host)");
      ok = false;
    }
  } else {
    ok = readBackends(rule, field, route) && ok;
  }
  if (!ok) return std::nullopt;
  return route;
}

bool ApiRouteTranslator::readMatch(const json& rule, const std::string& field,
                                   proxy::RouteSpec& route) {
  if (!member(rule, "match")) return true;  // every path, method, header
  std::string matchField = childField(field, "match");
  return clean([&] {
    const json* match = readObject(rule, "match", field, reporter_);
    if (!match) return false;
    bool ok = checkKnownFields(*match, matchField, {"path", "methods", "headers", "query"}, reporter_);
    ok = readPath(*match, matchField, route) && ok;
    ok = readMethods(*match, matchField, route) && ok;
    ok = readHeaderMatches(*match, matchField, route) && ok;
    ok = readQueryMatches(*match, matchField, route) && ok;
    return ok;
  });
}

bool ApiRouteTranslator::readPath(const json& match, const std::string& field,
                                  proxy::RouteSpec& route) {
  if (!member(match, "path")) return true;  // Prefix "/"
  std::string pathField = childField(field, "path");
  return clean([&] {
    const json* path = readObject(match, "path", field, reporter_);
    if (!path) return false;
    checkKnownFields(*path, pathField, {"type", "value"}, reporter_);
    auto type = readString(*path, "type", pathField, reporter_).value_or("Prefix");
    auto value = readString(*path, "value", pathField, reporter_);
    std::string typeField = childField(pathField, "type");
    std::string valueField = childField(pathField, "value");
    if (auto t = enumValue(kPathMatchTypeNames, type)) {
      route.pathType = *t;
    } else {
      reporter_.invalid(typeField, "InvalidField", quote(type) + " must be " + choicesText(kPathMatchTypeNames));
      return false;
    }
    if (!value) {
      if (route.pathType == proxy::PathMatchType::Prefix && !member(*path, "value")) return true;
      if (!member(*path, "value")) reporter_.invalid(valueField, "InvalidField", "required");
      return false;
    }
    route.path = *value;
    if (route.pathType == proxy::PathMatchType::RegularExpression) {
      if (std::string error = regexError(*value); !error.empty()) {
        reporter_.invalid(valueField, "InvalidRegex", "invalid RE2: " + error);
        return false;
      }
      return true;
    }
    if (!value->starts_with("/")) {
      reporter_.invalid(valueField, "InvalidPath", quote(*value) + " must start with '/'");
      return false;
    }
    for (unsigned char c : *value) {
      if (c <= 0x20 || c == 0x7f || c == '?' || c == '#') {
        reporter_.invalid(valueField, "InvalidPath",
                          quote(*value) + " must not contain spaces, control characters, '?' or '#'");
        return false;
      }
    }
    return true;
  });
}

bool ApiRouteTranslator::readMethods(const json& match, const std::string& field,
                                     proxy::RouteSpec& route) {
  const json* methods = readArray(match, "methods", field, reporter_);
  if (!methods) return member(match, "methods") == nullptr;
  std::string methodsField = childField(field, "methods");
  bool ok = true;
  for (size_t i = 0; i < methods->size(); ++i) {
    const json& m = (*methods)[i];
    std::string f = indexField(methodsField, i);
    if (!m.is_string() || !isHttpToken(m.get_ref<const std::string&>())) {
      reporter_.invalid(f, "InvalidField", "must be an HTTP method such as GET");
      ok = false;
      continue;
    }
    std::string method = toUpper(m.get_ref<const std::string&>());
    if (std::find(route.methods.begin(), route.methods.end(), method) == route.methods.end()) {
      route.methods.push_back(method);
    }
  }
  return ok;
}

bool ApiRouteTranslator::readHeaderMatches(const json& match, const std::string& field,
                                           proxy::RouteSpec& route) {
  return readList(match, "headers", field, headerMatchSchema(), route.headers, reporter_);
}

bool ApiRouteTranslator::readQueryMatches(const json& match, const std::string& field,
                                          proxy::RouteSpec& route) {
  return readList(match, "query", field, queryMatchSchema(), route.query, reporter_);
}

bool ApiRouteTranslator::readBackends(const json& rule, const std::string& field,
                                      proxy::RouteSpec& route) {
  const json* backends = readArray(rule, "backends", field, reporter_, /*required=*/true);
  if (!backends) return false;
  std::string backendsField = childField(field, "backends");
  if (backends->empty()) {
    reporter_.invalid(backendsField, "InvalidField", "at least one backend is required");
    return false;
  }
  bool ok = true;
  for (size_t i = 0; i < backends->size(); ++i) {
    ok = readBackend((*backends)[i], indexField(backendsField, i), route) && ok;
  }
  return ok;
}

bool ApiRouteTranslator::readBackend(const json& backend, const std::string& field,
                                     proxy::RouteSpec& route) {
  if (!backend.is_object()) {
    reporter_.invalid(field, "InvalidField", "must be an object, not " + jsonTypeName(backend));
    return false;
  }
  size_t before = reporter_.count();
  checkKnownFields(backend, field, {"url", "service", "port", "weight", "backendTLS"}, reporter_);
  auto weight = readUnsigned(backend, "weight", field, reporter_, kMaxBackendWeight);
  auto url = readString(backend, "url", field, reporter_);
  auto service = readString(backend, "service", field, reporter_);
  const json* port = member(backend, "port");
  std::optional<BackendTlsFields> tlsFields;
  readNested(backend, "backendTLS", field, backendTlsSchema(), tlsFields, reporter_);
  if (reporter_.count() != before) return false;
  const std::string tlsField = childField(field, "backendTLS");
  // The backend with its TLS settings, or unresolved (never reached in plaintext).
  auto add = [&](proxy::BackendSpec spec, const std::string& defaultName) {
    spec.weight = static_cast<uint32_t>(weight.value_or(1));
    if (tlsFields) {
      spec.tls = resolveBackendTls(*tlsFields, defaultName, index_, ns_, childField(tlsField, "caSecretName"),
                                   childField(tlsField, "clientCertificateSecretName"), reporter_);
      if (!spec.tls) return;
    }
    route.backends.push_back(std::move(spec));
  };

  if (url.has_value() == service.has_value()) {
    reporter_.invalid(field, "InvalidBackend", "needs exactly one of url and service");
    return false;
  }
  if (layer4_ && tlsFields) {
    reporter_.invalid(tlsField, "InvalidBackend",
                      "not used by a TCP route: its bytes go to the backend as the client sent them");
    return false;
  }
  if (url) {
    if (port) {
      reporter_.invalid(childField(field, "port"), "InvalidBackend",
                        "not allowed with url (write the port in the url)");
      return false;
    }
    auto spec = layer4_ ? tcpUrlBackend(*url) : urlBackend(*url);
    if (!spec) {
      reporter_.invalid(childField(field, "url"), "InvalidBackend",
                        quote(*url) + ": " + spec.error().message);
      return false;
    }
    if (tlsFields && !spec->tls) {
      reporter_.invalid(tlsField, "InvalidBackend", "needs an https:// url (or a Service backend)");
      return false;
    }
    const std::string host = spec->tls ? spec->tls->serverName : std::string();
    add(std::move(spec).value(), host);
    return true;
  }

  std::string portField = childField(field, "port");
  if (!isDnsLabel(*service)) {
    reporter_.invalid(childField(field, "service"), "InvalidBackend",
                      quote(*service) + " is not a valid Service name");
    return false;
  }
  ServicePortRef portRef;
  if (!port) {
    reporter_.invalid(portField, "InvalidBackend", "required with service");
    return false;
  }
  if (port->is_number_integer() && port->get<int64_t>() >= 1 && port->get<int64_t>() <= 65535) {
    portRef.number = static_cast<uint16_t>(port->get<int64_t>());
  } else if (port->is_string() && isPortName(port->get_ref<const std::string&>())) {
    portRef.name = port->get<std::string>();
  } else {
    reporter_.invalid(portField, "InvalidBackend",
                      "must be a port number (1-65535) or a port name such as http");
    return false;
  }

  if (options_.standalone) {
    reporter_.unresolved(childField(field, "service"), "BackendNotFound",
                         "service " + quote(*service) +
                             ": service backends need a cluster; use url in standalone mode");
    return true;
  }
  auto spec = resolveServiceBackend(index_, ns_, *service, portRef);
  if (!spec) {
    bool portProblem = index_.service(ns_, *service) != nullptr;
    reporter_.unresolved(portProblem ? portField : childField(field, "service"), "BackendNotFound",
                         spec.error().message);
    return true;
  }
  add(std::move(spec).value(), *service + "." + ns_ + ".svc");
  return true;
}

bool ApiRouteTranslator::readTimeouts(const json& rule, const std::string& field,
                                      proxy::RouteSpec& route) {
  return readNested(rule, "timeouts", field, timeoutsSchema(), route.timeouts, reporter_);
}

bool ApiRouteTranslator::readRewrite(const json& rule, const std::string& field,
                                     proxy::RouteSpec& route) {
  const json* rewrite = member(rule, "rewrite");
  if (rewrite && rewrite->is_object() && member(*rewrite, "pathPrefix") && member(*rewrite, "regex")) {
    std::string rField = childField(field, "rewrite");
    checkKnownFields(*rewrite, rField, rewriteSchema().names(), reporter_);
    reporter_.invalid(rField, "InvalidField", "pathPrefix and regex exclude each other");
    return false;
  }
  return readNested(rule, "rewrite", field, rewriteSchema(), route, reporter_);
}

bool ApiRouteTranslator::readHeaderEdits(const json& rule, std::string_view key,
                                         const std::string& field, proxy::HeaderEdits& edits) {
  return readNested(rule, key, field, headerEditsSchema(), edits, reporter_);
}

bool ApiRouteTranslator::readLimits(const json& rule, const std::string& field,
                                    proxy::RouteSpec& route) {
  return readNested(rule, "limits", field, limitsSchema(), route, reporter_);
}

std::optional<ObjectOutput> renderApiRoute(const OrderedObject& o, const ObjectIndex& index,
                                           const ClassSelector& classes, const RenderOptions& options,
                                           std::vector<Diagnostic>& diagnostics,
                                           std::set<std::string>* seen) {
  Reporter reporter(diagnostics, ObjectRef{std::string(kKind), o.ns, o.name});
  if (!o.object->is_object()) return std::nullopt;  // nothing to name it by
  if (o.name.empty()) {
    reporter.invalid("metadata.name", "InvalidField", "required");
    return std::nullopt;
  }
  if (seen && !seen->insert(o.ns + "/" + o.name).second) {
    reporter.invalid("metadata.name", "DuplicateObject",
                     "another APIRoute has the same namespace and name");
    return std::nullopt;
  }
  // ingressClassName: another controller's object is none of our business. The same
  // class rule as for Ingress (ClassSelector); unset means ours, as this is our own kind.
  if (const json* spec = member(*o.object, "spec"); spec && spec->is_object()) {
    if (const json* cls = member(*spec, "ingressClassName")) {
      if (!cls->is_string()) {
        reporter.invalid("spec.ingressClassName", "InvalidField",
                         "must be a string, not " + jsonTypeName(*cls));
        return std::nullopt;
      }
      if (!classes.isOurClass(cls->get<std::string>())) return std::nullopt;
    }
  }
  // Translate into a scratch builder so that an unexpected exception leaves nothing of
  // this object behind.
  TableBuilder scratch;
  std::vector<std::string> routeFields;
  try {
    ApiRouteTranslator(*o.object, index, options, reporter).translate(scratch, routeFields);
  } catch (const std::exception& e) {
    reporter.invalid("", "InternalError", std::string("render failed: ") + e.what());
    return std::nullopt;
  }
  ObjectOutput out{o.created, o.ns, o.name, std::string(kKind), std::move(scratch).finish(),
                   std::move(routeFields)};
  if (out.part.routes.empty()) return std::nullopt;
  return out;
}

void renderApiRoutes(const std::vector<const json*>& objects, const ObjectIndex& index,
                     const ClassSelector& classes, const RenderOptions& options,
                     std::vector<ObjectOutput>& outputs, std::vector<Diagnostic>& diagnostics) {
  std::set<std::string> seen;
  for (const auto& o : inCreationOrder(objects)) {
    if (auto out = renderApiRoute(o, index, classes, options, diagnostics, &seen)) outputs.push_back(std::move(*out));
  }
}

}  // namespace portico::controller
