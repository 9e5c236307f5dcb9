#include "controller/render/ingress.h"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <exception>
#include <limits>
#include <optional>
#include <tuple>
#include <unordered_set>

#include "controller/render/backends.h"
#include "controller/render/duration.h"
#include "controller/render/field_path.h"
#include "controller/render/secrets.h"
#include "controller/render/validation.h"

namespace portico::controller {
namespace {

using nlohmann::json;

constexpr std::string_view kKind = "Ingress";
constexpr std::string_view kLegacyClassAnnotation = "kubernetes.io/ingress.class";
constexpr std::string_view kAnnotationPrefix = "portico.dev/";
constexpr std::string_view kAnnotationsField = "metadata.annotations";

constexpr std::string_view kSslRedirect = "portico.dev/ssl-redirect";
constexpr std::string_view kRewriteTarget = "portico.dev/rewrite-target";
constexpr std::string_view kLoadBalancing = "portico.dev/load-balancing";
constexpr std::string_view kProxyBodySize = "portico.dev/proxy-body-size";
constexpr std::string_view kConnectTimeout = "portico.dev/connect-timeout";
constexpr std::string_view kRequestTimeout = "portico.dev/request-timeout";

// Features an Ingress may ask for that are not built yet. Such an Ingress is not served at
// all: a route meant to be protected must never be served unprotected.
constexpr std::string_view kUnsupportedAnnotationPrefixes[] = {
    "portico.dev/rate-limit", "portico.dev/ratelimit", "portico.dev/auth"};

std::string quote(std::string_view s) { return "\"" + std::string(s) + "\""; }

std::string annotationField(std::string_view key) { return childField(kAnnotationsField, key); }

const json* annotationsOf(const json& object) {
  const json* meta = member(object, "metadata");
  const json* annotations = meta ? member(*meta, "annotations") : nullptr;
  return annotations && annotations->is_object() ? annotations : nullptr;
}

// What the portico.dev/ annotations ask for, applied to every route of the Ingress.
struct Settings {
  bool sslRedirect = false;
  std::optional<std::string> rewriteTarget;
  std::optional<proxy::LoadBalancingPolicy> loadBalancing;
  uint64_t maxRequestBodyBytes = 0;
  std::optional<proxy::Millis> connectTimeout;
  std::optional<proxy::Millis> requestTimeout;
};

// "10m": digits, then an optional k, m or g (powers of 1024, either case). nullopt if invalid
// or out of range.
std::optional<uint64_t> parseByteSize(std::string_view text) {
  uint64_t multiplier = 1;
  if (!text.empty()) {
    switch (text.back()) {
      case 'k': case 'K': multiplier = uint64_t{1} << 10; break;
      case 'm': case 'M': multiplier = uint64_t{1} << 20; break;
      case 'g': case 'G': multiplier = uint64_t{1} << 30; break;
      default: break;
    }
    if (multiplier != 1) text.remove_suffix(1);
  }
  if (text.empty()) return std::nullopt;
  uint64_t value = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || ptr != text.data() + text.size()) return std::nullopt;
  constexpr uint64_t kMax = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
  if (value > kMax / multiplier) return std::nullopt;
  return value * multiplier;
}

// A literal path: starts with '/', no whitespace, control characters, '?' or '#'.
std::string checkPath(std::string_view path) {
  if (!path.starts_with("/")) return quote(path) + " must start with '/'";
  for (unsigned char c : path) {
    if (c <= 0x20 || c == 0x7f || c == '?' || c == '#') {
      return quote(path) + " must not contain spaces, control characters, '?' or '#'";
    }
  }
  return {};
}

// Reads the portico.dev/ annotations. Returns false if the Ingress must not be rendered
// (an unsupported feature or an invalid value); unknown ones are reported and ignored.
bool readAnnotations(const json& object, Settings& settings, Reporter& reporter) {
  const json* annotations = annotationsOf(object);
  if (!annotations) return true;
  bool ok = true;
  // nlohmann::json objects iterate in key order, so diagnostics are deterministic.
  for (auto it = annotations->begin(); it != annotations->end(); ++it) {
    const std::string& key = it.key();
    if (!key.starts_with(kAnnotationPrefix)) continue;
    std::string field = annotationField(key);
    bool unsupported = std::any_of(std::begin(kUnsupportedAnnotationPrefixes),
                                   std::end(kUnsupportedAnnotationPrefixes),
                                   [&](std::string_view p) { return key.starts_with(p); });
    if (unsupported) {
      reporter.invalid(field, "UnsupportedFeature",
                       "is not supported yet; the Ingress is not served rather than served "
                       "without it (use an APIRoute)");
      ok = false;
      continue;
    }
    bool known = key == kSslRedirect || key == kRewriteTarget || key == kLoadBalancing ||
                 key == kProxyBodySize || key == kConnectTimeout || key == kRequestTimeout;
    if (!known) {
      reporter.invalid(field, "UnknownAnnotation",
                       "unknown Portico annotation, ignored (supported: ssl-redirect, "
                       "rewrite-target, load-balancing, proxy-body-size, connect-timeout, "
                       "request-timeout)");
      continue;
    }
    if (!it->is_string()) {
      reporter.invalid(field, "InvalidAnnotation", "must be a string, not " + jsonTypeName(*it));
      ok = false;
      continue;
    }
    const std::string& value = it->get_ref<const std::string&>();
    auto bad = [&](const std::string& why) {
      reporter.invalid(field, "InvalidAnnotation", quote(value) + " " + why);
      ok = false;
    };
    if (key == kSslRedirect) {
      if (value == "true") {
        settings.sslRedirect = true;
      } else if (value != "false") {
        bad("must be \"true\" or \"false\"");
      }
    } else if (key == kRewriteTarget) {
      if (value.find('$') != std::string::npos) {
        bad("must be a literal path: capture groups ($1) are not supported; the value "
            "replaces the matched prefix");
      } else if (std::string why = checkPath(value); !why.empty()) {
        reporter.invalid(field, "InvalidAnnotation", why);
        ok = false;
      } else {
        settings.rewriteTarget = value;
      }
    } else if (key == kLoadBalancing) {
      if (value == "RoundRobin") {
        settings.loadBalancing = proxy::LoadBalancingPolicy::RoundRobin;
      } else if (value == "LeastRequest") {
        settings.loadBalancing = proxy::LoadBalancingPolicy::LeastRequest;
      } else if (value == "Random") {
        settings.loadBalancing = proxy::LoadBalancingPolicy::Random;
      } else {
        bad("must be RoundRobin, LeastRequest or Random");
      }
    } else if (key == kProxyBodySize) {
      auto bytes = parseByteSize(value);
      if (!bytes || *bytes == 0) {
        bad("must be a size of at least 1 byte, such as \"512k\", \"10m\" or \"1g\"");
      } else {
        settings.maxRequestBodyBytes = *bytes;
      }
    } else {  // connect-timeout, request-timeout
      auto d = parseDuration(value);
      if (!d) {
        reporter.invalid(field, "InvalidAnnotation", d.error().message);
        ok = false;
        continue;
      }
      auto ms = std::chrono::duration_cast<proxy::Millis>(*d);
      if (ms.count() < 1) {
        bad("must be at least 1ms");
        continue;
      }
      (key == kConnectTimeout ? settings.connectTimeout : settings.requestTimeout) = ms;
    }
  }
  return ok;
}

// Translates one Ingress of our class into `out`.
class IngressTranslator {
 public:
  IngressTranslator(const json& object, const ObjectIndex& index, const RenderOptions& options,
                    const Settings& settings, Reporter& reporter)
      : object_(object), index_(index), options_(options), settings_(settings),
        reporter_(reporter), ns_(reporter.object().ns), name_(reporter.object().name) {}

  // Returns false if the Ingress is rejected as a whole.
  bool translate(TableBuilder& table, std::vector<std::string>& routeFields);

 private:
  void readRules(const json& rules, TableBuilder& table, std::vector<std::string>& routeFields);
  std::optional<proxy::RouteSpec> readPath(const json& path, const std::string& field,
                                           const std::string& host);
  // Resolves an IngressBackend at `field` into route.backends. False if the route must be
  // skipped; an unresolved Service still gives true (the route answers 503).
  bool readBackend(const json& backend, const std::string& field, proxy::RouteSpec& route);
  void readTls(const json& tls, TableBuilder& table);
  void applySettings(proxy::RouteSpec& route, bool isPath) const;

  const json& object_;
  const ObjectIndex& index_;
  const RenderOptions& options_;
  const Settings& settings_;
  Reporter& reporter_;
  std::string ns_;
  std::string name_;
  std::vector<std::string> ruleHosts_;  // valid, non-empty rule hosts, first-seen order
};

bool IngressTranslator::translate(TableBuilder& table, std::vector<std::string>& routeFields) {
  const json* spec = readObject(object_, "spec", "", reporter_, /*required=*/true);
  if (!spec) return false;
  size_t before = reporter_.count();
  const json* rules = readArray(*spec, "rules", "spec", reporter_);
  const json* defaultBackend = readObject(*spec, "defaultBackend", "spec", reporter_);
  if ((!rules || rules->empty()) && !defaultBackend) {
    if (reporter_.count() == before) {
      reporter_.invalid("spec", "InvalidField", "needs rules or a defaultBackend");
    }
    return false;
  }
  if (rules) readRules(*rules, table, routeFields);
  if (defaultBackend) {
    proxy::RouteSpec route;
    route.name = ns_ + "/" + name_ + "/default-backend";
    route.pathType = proxy::PathMatchType::Prefix;
    route.path = "/";
    if (readBackend(*defaultBackend, "spec.defaultBackend", route)) {
      applySettings(route, /*isPath=*/false);
      table.addRoute(std::move(route));
      routeFields.push_back("spec.defaultBackend");
    }
  }
  // TLS after the rules: entries without hosts use the rules' hosts.
  if (const json* tls = readArray(*spec, "tls", "spec", reporter_)) readTls(*tls, table);
  return true;
}

void IngressTranslator::readRules(const json& rules, TableBuilder& table,
                                  std::vector<std::string>& routeFields) {
  for (size_t i = 0; i < rules.size(); ++i) {
    std::string ruleField = indexField("spec.rules", i);
    const json& rule = rules[i];
    if (!rule.is_object()) {
      reporter_.invalid(ruleField, "InvalidField", "must be an object, not " + jsonTypeName(rule));
      continue;
    }
    std::string host;
    if (auto h = readString(rule, "host", ruleField, reporter_)) {
      host = toLower(*h);
    } else if (member(rule, "host")) {
      continue;  // wrong type, reported; never widen a rule to every host
    }
    if (!host.empty()) {
      if (std::string why = checkRouteHost(host); !why.empty()) {
        reporter_.invalid(childField(ruleField, "host"), "InvalidHost", quote(host) + " " + why);
        continue;
      }
      if (std::find(ruleHosts_.begin(), ruleHosts_.end(), host) == ruleHosts_.end()) {
        ruleHosts_.push_back(host);
      }
    }
    // A rule with a host and no http section is valid Kubernetes: its host falls through
    // to the default backend, which is what the catch-all route does anyway.
    const json* http = readObject(rule, "http", ruleField, reporter_);
    if (!http) continue;
    std::string httpField = childField(ruleField, "http");
    const json* paths = readArray(*http, "paths", httpField, reporter_, /*required=*/true);
    if (!paths) continue;
    std::string pathsField = childField(httpField, "paths");
    for (size_t j = 0; j < paths->size(); ++j) {
      std::string pathField = indexField(pathsField, j);
      auto route = readPath((*paths)[j], pathField, host);
      if (!route) continue;
      route->name = ns_ + "/" + name_ + "/rule" + std::to_string(i) + "-path" + std::to_string(j);
      table.addRoute(std::move(*route));
      routeFields.push_back(std::move(pathField));
    }
  }
}

std::optional<proxy::RouteSpec> IngressTranslator::readPath(const json& path,
                                                            const std::string& field,
                                                            const std::string& host) {
  if (!path.is_object()) {
    reporter_.invalid(field, "InvalidField", "must be an object, not " + jsonTypeName(path));
    return std::nullopt;
  }
  size_t before = reporter_.count();
  auto type = readString(path, "pathType", field, reporter_);
  auto value = readString(path, "path", field, reporter_);
  if (reporter_.count() != before) return std::nullopt;

  proxy::RouteSpec route;
  if (!host.empty()) route.hosts = {host};
  // ImplementationSpecific is ours to define: Portico treats it as Prefix (element-wise,
  // like Kubernetes' Prefix). A missing pathType (the API server requires one) likewise.
  std::string typeName = type.value_or("ImplementationSpecific");
  if (typeName == "Exact") {
    route.pathType = proxy::PathMatchType::Exact;
  } else if (typeName == "Prefix" || typeName == "ImplementationSpecific") {
    route.pathType = proxy::PathMatchType::Prefix;
  } else {
    reporter_.invalid(childField(field, "pathType"), "InvalidField",
                      quote(typeName) + " must be Exact, Prefix or ImplementationSpecific");
    return std::nullopt;
  }
  if (!value) {
    if (route.pathType == proxy::PathMatchType::Exact) {
      reporter_.invalid(childField(field, "path"), "InvalidField", "required with pathType Exact");
      return std::nullopt;
    }
    value = "/";
  }
  if (std::string why = checkPath(*value); !why.empty()) {
    reporter_.invalid(childField(field, "path"), "InvalidPath", why);
    return std::nullopt;
  }
  route.path = *value;
  const json* backend = readObject(path, "backend", field, reporter_, /*required=*/true);
  if (!backend || !readBackend(*backend, childField(field, "backend"), route)) return std::nullopt;
  applySettings(route, /*isPath=*/true);
  return route;
}

bool IngressTranslator::readBackend(const json& backend, const std::string& field,
                                    proxy::RouteSpec& route) {
  size_t before = reporter_.count();
  if (!backend.is_object()) {
    reporter_.invalid(field, "InvalidField", "must be an object, not " + jsonTypeName(backend));
    return false;
  }
  if (member(backend, "resource")) {
    reporter_.invalid(childField(field, "resource"), "UnsupportedBackend",
                      "resource backends are not supported; this path is not served");
    return false;
  }
  const json* service = readObject(backend, "service", field, reporter_);
  if (!service) {
    if (reporter_.count() == before) {
      reporter_.invalid(field, "InvalidBackend", "needs service (name and port)");
    }
    return false;
  }
  std::string serviceField = childField(field, "service");
  auto serviceName = readString(*service, "name", serviceField, reporter_, /*required=*/true);
  const json* port = readObject(*service, "port", serviceField, reporter_, /*required=*/true);
  if (reporter_.count() != before) return false;
  std::string portField = childField(serviceField, "port");
  if (!isDnsLabel(*serviceName)) {
    reporter_.invalid(childField(serviceField, "name"), "InvalidBackend",
                      quote(*serviceName) + " is not a valid Service name");
    return false;
  }
  ServicePortRef portRef;
  const json* number = member(*port, "number");
  const json* name = member(*port, "name");
  if (number && !name && number->is_number_integer() && number->get<int64_t>() >= 1 &&
      number->get<int64_t>() <= 65535) {
    portRef.number = static_cast<uint16_t>(number->get<int64_t>());
  } else if (name && !number && name->is_string() && !name->get_ref<const std::string&>().empty()) {
    portRef.name = name->get<std::string>();
  } else {
    reporter_.invalid(portField, "InvalidBackend",
                      "needs exactly one of number (1-65535) and name");
    return false;
  }
  if (options_.standalone) {
    reporter_.unresolved(childField(serviceField, "name"), "BackendNotFound",
                         "service " + quote(*serviceName) + ": service backends need a cluster");
    return true;  // served, 503
  }
  auto spec = resolveServiceBackend(index_, ns_, *serviceName, portRef);
  if (!spec) {
    bool portProblem = index_.service(ns_, *serviceName) != nullptr;
    reporter_.unresolved(portProblem ? portField : childField(serviceField, "name"),
                         "BackendNotFound", spec.error().message);
    return true;  // served, 503 until the Service appears
  }
  route.backends.push_back(std::move(spec).value());
  return true;
}

void IngressTranslator::applySettings(proxy::RouteSpec& route, bool isPath) const {
  if (settings_.loadBalancing) route.loadBalancing = *settings_.loadBalancing;
  if (settings_.connectTimeout) route.timeouts.connect = *settings_.connectTimeout;
  if (settings_.requestTimeout) route.timeouts.request = *settings_.requestTimeout;
  route.maxRequestBodyBytes = settings_.maxRequestBodyBytes;
  // The default backend has no path of its own to rewrite.
  if (isPath && settings_.rewriteTarget) route.rewritePathPrefix = settings_.rewriteTarget;
}

// Problems here never drop routes: the hosts are then served over plain HTTP only.
void IngressTranslator::readTls(const json& tls, TableBuilder& table) {
  std::vector<std::string> redirectHosts;
  for (size_t i = 0; i < tls.size(); ++i) {
    std::string field = indexField("spec.tls", i);
    const json& entry = tls[i];
    if (!entry.is_object()) {
      reporter_.invalid(field, "InvalidField", "must be an object, not " + jsonTypeName(entry));
      continue;
    }
    std::vector<std::string> hosts;
    if (const json* list = readArray(entry, "hosts", field, reporter_)) {
      std::string hostsField = childField(field, "hosts");
      for (size_t j = 0; j < list->size(); ++j) {
        const json& h = (*list)[j];
        std::string hf = indexField(hostsField, j);
        if (!h.is_string()) {
          reporter_.invalid(hf, "InvalidField", "must be a string, not " + jsonTypeName(h));
          continue;
        }
        std::string host = toLower(h.get_ref<const std::string&>());
        if (std::string why = checkRouteHost(host); !why.empty()) {
          reporter_.invalid(hf, "InvalidHost", quote(host) + " " + why);
          continue;
        }
        if (std::find(hosts.begin(), hosts.end(), host) == hosts.end()) hosts.push_back(host);
      }
      if (list->empty()) hosts = ruleHosts_;
    } else if (!member(entry, "hosts")) {
      hosts = ruleHosts_;
    }
    auto secretName = readString(entry, "secretName", field, reporter_);
    std::string secretField = childField(field, "secretName");
    if (!secretName) {
      if (!member(entry, "secretName")) {
        reporter_.unresolved(secretField, "SecretNotFound",
                             "required: Portico has no default certificate; these hosts are "
                             "served over plain HTTP");
      }
      continue;
    }
    if (hosts.empty()) {
      reporter_.invalid(field, "InvalidField",
                        "no hosts: certificates are selected by host name (SNI)");
      continue;
    }
    auto pair = resolveTlsSecret(index_, ns_, *secretName, secretField, reporter_);
    if (!pair) continue;
    proxy::CertificateSpec cert;
    cert.name = ns_ + "/" + *secretName;
    cert.hosts = hosts;
    cert.certificatePem = std::move(pair->certificatePem);
    cert.privateKeyPem = std::move(pair->privateKeyPem);
    table.addCertificate(std::move(cert));
    if (settings_.sslRedirect) {
      redirectHosts.insert(redirectHosts.end(), hosts.begin(), hosts.end());
    }
  }
  table.addRedirectHosts(redirectHosts);
}

// spec.ingressClassName, then the legacy annotation, then the default class.
bool isOurs(const json& object, const ClassSelector& classes, const RenderOptions& options,
            Reporter& reporter) {
  const json* spec = member(object, "spec");
  if (const json* cls = spec ? member(*spec, "ingressClassName") : nullptr) {
    if (!cls->is_string()) {
      // Cannot tell whose it is; the API server never serves this, so say so once.
      reporter.invalid("spec.ingressClassName", "InvalidField",
                       "must be a string, not " + jsonTypeName(*cls));
      return false;
    }
    return classes.isOurClass(cls->get<std::string>());
  }
  if (const json* annotations = annotationsOf(object)) {
    if (const json* legacy = member(*annotations, kLegacyClassAnnotation)) {
      return legacy->is_string() && legacy->get_ref<const std::string&>() == options.ingressClass;
    }
  }
  return classes.weAreDefault();
}

}  // namespace

void renderIngresses(const ObjectSnapshot& objects, const ObjectIndex& index,
                     const ClassSelector& classes, const RenderOptions& options,
                     std::vector<ObjectOutput>& outputs, std::vector<Diagnostic>& diagnostics,
                     std::vector<ObjectRef>& owned) {
  const std::vector<OrderedObject> ordered = inCreationOrder(objects.ingresses);

  std::unordered_set<std::string> seen;
  seen.reserve(ordered.size());
  for (const auto& o : ordered) {
    if (!o.object->is_object()) continue;  // nothing to name it by
    Reporter reporter(diagnostics, ObjectRef{std::string(kKind), o.ns, o.name});
    // Class first: another controller's Ingress is none of our business, not even its
    // problems.
    if (!isOurs(*o.object, classes, options, reporter)) continue;
    if (o.name.empty()) {
      reporter.invalid("metadata.name", "InvalidField", "required");
      continue;
    }
    if (!seen.insert(o.ns + "/" + o.name).second) {
      reporter.invalid("metadata.name", "DuplicateObject",
                       "another Ingress has the same namespace and name");
      continue;
    }
    Settings settings;
    if (!readAnnotations(*o.object, settings, reporter)) continue;
    // Translate into a scratch builder so that an unexpected exception leaves nothing of
    // this object behind.
    TableBuilder scratch;
    std::vector<std::string> routeFields;
    bool accepted = false;
    try {
      accepted = IngressTranslator(*o.object, index, options, settings, reporter)
                     .translate(scratch, routeFields);
    } catch (const std::exception& e) {
      reporter.invalid("", "InternalError", std::string("render failed: ") + e.what());
      continue;
    }
    if (!accepted) continue;
    owned.push_back(reporter.object());
    ObjectOutput out{o.created, o.ns, o.name, std::string(kKind), std::move(scratch).finish(),
                     std::move(routeFields)};
    if (!out.part.routes.empty()) outputs.push_back(std::move(out));
  }
}

}  // namespace portico::controller
