// Ingress (networking.k8s.io/v1) and IngressClass semantics in render: class selection,
// rules, backends, TLS, portico.dev/ annotations, conflicts, determinism and a 10k guard.
#include <algorithm>
#include <chrono>
#include <random>

#include <doctest/doctest.h>

#include "controller/render/render.h"
#include "controller/render/spec_json.h"
#include "proxy/config/route_table.h"
#include "test/controller/test_support.h"
#include "test/proxy/router/fake_request.h"

using nlohmann::json;
using namespace portico::controller;
using namespace portico::controller::test;
using namespace std::chrono_literals;
namespace proxy = portico::proxy;

namespace {

constexpr const char* kController = "portico.dev/ingress-controller";

json metadata(const std::string& ns, const std::string& name, const std::string& created,
              json annotations) {
  json m = {{"namespace", ns}, {"name", name}};
  if (!created.empty()) m["creationTimestamp"] = created;
  if (!annotations.empty()) m["annotations"] = std::move(annotations);
  return m;
}

// An Ingress; `spec` gets ingressClassName "portico" unless it has one or `classless`.
json ingress(const std::string& ns, const std::string& name, json spec,
             const std::string& created = "", json annotations = json::object(),
             bool classless = false) {
  if (!classless && !spec.contains("ingressClassName")) spec["ingressClassName"] = "portico";
  return {{"apiVersion", "networking.k8s.io/v1"},
          {"kind", "Ingress"},
          {"metadata", metadata(ns, name, created, std::move(annotations))},
          {"spec", std::move(spec)}};
}

json serviceBackend(const std::string& name, json port = {{"number", 80}}) {
  return {{"service", {{"name", name}, {"port", std::move(port)}}}};
}

json path(const std::string& value, const std::string& type = "Prefix",
          json backend = serviceBackend("web")) {
  return {{"path", value}, {"pathType", type}, {"backend", std::move(backend)}};
}

json hostRule(const std::string& host, json paths) {
  json r = {{"http", {{"paths", std::move(paths)}}}};
  if (!host.empty()) r["host"] = host;
  return r;
}

// spec with one rule for `host` and the given paths.
json rulesSpec(const std::string& host, json paths) {
  return {{"rules", {hostRule(host, std::move(paths))}}};
}

json ingressClass(const std::string& name, const std::string& controller, bool isDefault = false) {
  json o = {{"apiVersion", "networking.k8s.io/v1"},
            {"kind", "IngressClass"},
            {"metadata", {{"name", name}}},
            {"spec", {{"controller", controller}}}};
  if (isDefault) {
    o["metadata"]["annotations"] = {{"ingressclass.kubernetes.io/is-default-class", "true"}};
  }
  return o;
}

json service(const std::string& ns, const std::string& name, json ports) {
  return {{"apiVersion", "v1"},
          {"kind", "Service"},
          {"metadata", {{"namespace", ns}, {"name", name}}},
          {"spec", {{"type", "ClusterIP"}, {"ports", std::move(ports)}}}};
}

json endpoint(const std::string& address, json conditions = json::object()) {
  return {{"addresses", {address}}, {"conditions", std::move(conditions)}};
}

// shop/web: port 80 named http -> target 8080, three ready endpoints.
void addWebService(ObjectSnapshot& s, const std::string& ns = "shop") {
  s.services.push_back(service(ns, "web", {{{"name", "http"}, {"port", 80}, {"protocol", "TCP"}}}));
  s.endpointSlices.push_back(slice(ns, "web-1", "web", {{{"name", "http"}, {"port", 8080}}},
                                   {endpoint("10.0.0.1"), endpoint("10.0.0.2"), endpoint("10.0.0.3")}));
}

ObjectSnapshot withWeb(std::vector<json> ingresses) {
  ObjectSnapshot s;
  addWebService(s);
  s.ingresses = std::move(ingresses);
  return s;
}

RenderResult renderSnapshot(const ObjectSnapshot& s) { return render(s, RenderOptions{}); }

std::vector<std::string> routeNames(const RenderResult& r) {
  std::vector<std::string> names;
  for (const auto& route : r.table.routes) names.push_back(route.name);
  return names;
}

std::vector<std::string> ownedNames(const RenderResult& r) {
  std::vector<std::string> names;
  for (const auto& o : r.ownedIngresses) names.push_back(o.toString());
  return names;
}

std::string diagnosticsText(const RenderResult& r) { return toJson(r.diagnostics).dump(); }

const proxy::RouteSpec* findRoute(const RenderResult& r, const std::string& name) {
  for (const auto& route : r.table.routes) {
    if (route.name == name) return &route;
  }
  return nullptr;
}

// Renders and requires no diagnostics.
RenderResult renderClean(const ObjectSnapshot& s) {
  auto result = renderSnapshot(s);
  for (const auto& d : result.diagnostics) FAIL_CHECK(d.message);
  return result;
}

// One Ingress shop/web with the given annotations and a single Prefix /app path on
// app.example.com; returns its only route.
proxy::RouteSpec annotatedRoute(json annotations) {
  auto result = renderClean(withWeb({ingress("shop", "web", rulesSpec("app.example.com", {path("/app")}),
                                             "", std::move(annotations))}));
  REQUIRE(result.table.routes.size() == 1);
  return result.table.routes[0];
}

// One Ingress with the annotation; requires that it is not rendered, with one diagnostic
// on the annotation with `reason`.
void checkRejectedBy(const std::string& key, const std::string& value, const std::string& reason) {
  CAPTURE(key);
  CAPTURE(value);
  auto result = renderSnapshot(withWeb({ingress("shop", "web", rulesSpec("app.example.com", {path("/app")}),
                                                "", {{key, value}})}));
  CHECK(result.table.routes.empty());
  CHECK(result.ownedIngresses.empty());
  auto at = diagnosticsAt(result, "metadata.annotations[" + key + "]");
  REQUIRE_MESSAGE(at.size() == 1, diagnosticsText(result));
  CHECK(at[0].reason == reason);
  CHECK(at[0].object.toString() == "Ingress shop/web");
}

std::string matched(const proxy::RouteTableSpec& spec, const std::string& host, const std::string& p) {
  auto built = proxy::RouteTable::build(spec, 1);
  REQUIRE_MESSAGE(built.has_value(), (built ? std::string() : built.error().message));
  return proxy::testing::matchedName(**built, proxy::testing::FakeRequest(host, p));
}

}  // namespace

TEST_SUITE("render.ingress") {

// ---- class selection ------------------------------------------------------------------

TEST_CASE("ingressClassName naming an IngressClass of our controller is ours, whatever its name") {
  ObjectSnapshot s = withWeb({ingress("shop", "web", {{"ingressClassName", "edge"}, {"rules", {hostRule("a.example.com", {path("/")})}}})});
  s.ingressClasses = {ingressClass("edge", kController)};
  auto result = renderClean(s);
  CHECK(routeNames(result) == std::vector<std::string>{"shop/web/rule0-path0"});
  CHECK(ownedNames(result) == std::vector<std::string>{"Ingress shop/web"});
}

TEST_CASE("ingressClassName naming another controller's IngressClass is ignored silently, even if it is named like ours") {
  ObjectSnapshot s = withWeb({ingress("shop", "web", {{"ingressClassName", "portico"}, {"rules", {hostRule("a.example.com", {path("/")})}}})});
  s.ingressClasses = {ingressClass("portico", "k8s.io/ingress-nginx")};
  auto result = renderSnapshot(s);
  CHECK(result.table.routes.empty());
  CHECK(result.diagnostics.empty());
  CHECK(result.ownedIngresses.empty());
}

TEST_CASE("without an IngressClass object, ingressClassName equal to the --ingress-class name is ours and others are not") {
  auto result = renderClean(withWeb({
      ingress("shop", "mine", {{"ingressClassName", "portico"}, {"rules", {hostRule("a.example.com", {path("/")})}}}),
      ingress("shop", "theirs", {{"ingressClassName", "nginx"}, {"rules", {hostRule("b.example.com", {path("/")})}}}),
  }));
  CHECK(routeNames(result) == std::vector<std::string>{"shop/mine/rule0-path0"});
  CHECK(ownedNames(result) == std::vector<std::string>{"Ingress shop/mine"});
}

TEST_CASE("without ingressClassName the legacy kubernetes.io/ingress.class annotation decides, before the default class") {
  ObjectSnapshot s = withWeb({
      ingress("shop", "legacy-ours", rulesSpec("a.example.com", {path("/")}), "",
              {{"kubernetes.io/ingress.class", "portico"}}, /*classless=*/true),
      ingress("shop", "legacy-theirs", rulesSpec("b.example.com", {path("/")}), "",
              {{"kubernetes.io/ingress.class", "nginx"}}, /*classless=*/true),
  });
  s.ingressClasses = {ingressClass("portico", kController, /*isDefault=*/true)};
  auto result = renderClean(s);
  CHECK(routeNames(result) == std::vector<std::string>{"shop/legacy-ours/rule0-path0"});
}

TEST_CASE("without class name or annotation, an Ingress is ours only if our IngressClass is the default class") {
  auto classless = ingress("shop", "web", rulesSpec("a.example.com", {path("/")}), "", json::object(), true);
  SUBCASE("our class is the default") {
    ObjectSnapshot s = withWeb({classless});
    s.ingressClasses = {ingressClass("portico", kController, true)};
    CHECK(renderClean(s).table.routes.size() == 1);
  }
  SUBCASE("our class exists but is not the default") {
    ObjectSnapshot s = withWeb({classless});
    s.ingressClasses = {ingressClass("portico", kController, false)};
    CHECK(renderClean(s).table.routes.empty());
  }
  SUBCASE("another controller's class is the default") {
    ObjectSnapshot s = withWeb({classless});
    s.ingressClasses = {ingressClass("portico", kController), ingressClass("nginx", "k8s.io/ingress-nginx", true)};
    CHECK(renderClean(s).table.routes.empty());
  }
  SUBCASE("is-default-class must be exactly \"true\"") {
    ObjectSnapshot s = withWeb({classless});
    auto cls = ingressClass("portico", kController);
    cls["metadata"]["annotations"] = {{"ingressclass.kubernetes.io/is-default-class", "yes"}};
    s.ingressClasses = {cls};
    CHECK(renderClean(s).table.routes.empty());
  }
  SUBCASE("no IngressClass at all") {
    CHECK(renderClean(withWeb({classless})).table.routes.empty());
  }
}

TEST_CASE("APIRoute spec.ingressClassName follows the same IngressClass rule; unset stays ours") {
  ObjectSnapshot s;
  s.apiRoutes = {
      apiRoute("shop", "edge", {{"ingressClassName", "edge"}, {"rules", {rule("r")}}}),
      apiRoute("shop", "named-like-us", {{"ingressClassName", "portico"}, {"rules", {rule("r")}}}),
      apiRoute("shop", "unset", {{"rules", {rule("r")}}}),
  };
  s.ingressClasses = {ingressClass("edge", kController), ingressClass("portico", "example.com/other")};
  auto result = renderClean(s);
  CHECK(routeNames(result) == std::vector<std::string>{"shop/edge/r", "shop/unset/r"});
}

// ---- rules ------------------------------------------------------------------------------

TEST_CASE("pathType Exact and Prefix map to the router's types and ImplementationSpecific is treated as Prefix") {
  auto result = renderClean(withWeb({ingress("shop", "web", rulesSpec("a.example.com", {
      path("/exact", "Exact"), path("/prefix", "Prefix"), path("/impl", "ImplementationSpecific")}))}));
  REQUIRE(result.table.routes.size() == 3);
  CHECK(result.table.routes[0].pathType == proxy::PathMatchType::Exact);
  CHECK(result.table.routes[0].path == "/exact");
  CHECK(result.table.routes[1].pathType == proxy::PathMatchType::Prefix);
  CHECK(result.table.routes[2].pathType == proxy::PathMatchType::Prefix);
  CHECK(result.table.routes[2].path == "/impl");
  // Through the real router: Exact is exact, Prefix is element-wise.
  CHECK(matched(result.table, "a.example.com", "/exact") == "shop/web/rule0-path0");
  CHECK(matched(result.table, "a.example.com", "/exact/x") == "<none>");
  CHECK(matched(result.table, "a.example.com", "/prefix/x") == "shop/web/rule0-path1");
  CHECK(matched(result.table, "a.example.com", "/prefixx") == "<none>");
  CHECK(matched(result.table, "a.example.com", "/impl/deep/er") == "shop/web/rule0-path2");
}

TEST_CASE("an unknown pathType or a malformed path skips that path only") {
  auto result = renderSnapshot(withWeb({ingress("shop", "web", rulesSpec("a.example.com", {
      path("/ok"), path("/x", "Regex"), path("no-slash"), path("/sp ace")}))}));
  CHECK(routeNames(result) == std::vector<std::string>{"shop/web/rule0-path0"});
  CHECK(diagnosticsAt(result, "spec.rules[0].http.paths[1].pathType").at(0).reason == "InvalidField");
  CHECK(diagnosticsAt(result, "spec.rules[0].http.paths[2].path").at(0).reason == "InvalidPath");
  CHECK(diagnosticsAt(result, "spec.rules[0].http.paths[3].path").at(0).reason == "InvalidPath");
}

TEST_CASE("rule hosts are exact or wildcard, lower-cased, and a rule without host serves every host") {
  auto result = renderClean(withWeb({ingress("shop", "web", {{"rules", {
      hostRule("Shop.Example.com", {path("/")}), hostRule("*.example.org", {path("/")}), hostRule("", {path("/any")})}}})}));
  REQUIRE(result.table.routes.size() == 3);
  CHECK(result.table.routes[0].hosts == std::vector<std::string>{"shop.example.com"});
  CHECK(result.table.routes[1].hosts == std::vector<std::string>{"*.example.org"});
  CHECK(result.table.routes[2].hosts.empty());
  CHECK(matched(result.table, "foo.example.org", "/") == "shop/web/rule1-path0");
  CHECK(matched(result.table, "example.org", "/") == "<none>");
  CHECK(matched(result.table, "whatever.test", "/any/thing") == "shop/web/rule2-path0");
}

TEST_CASE("an invalid rule host skips the rule instead of widening it to every host") {
  auto result = renderSnapshot(withWeb({ingress("shop", "web", {{"rules", {
      hostRule("bad_host!", {path("/")}), hostRule("a.*.com", {path("/")}), hostRule("ok.example.com", {path("/")})}}})}));
  CHECK(routeNames(result) == std::vector<std::string>{"shop/web/rule2-path0"});
  CHECK(diagnosticsAt(result, "spec.rules[0].host").at(0).reason == "InvalidHost");
  CHECK(diagnosticsAt(result, "spec.rules[1].host").at(0).reason == "InvalidHost");
}

// ---- backends ---------------------------------------------------------------------------

TEST_CASE("a service port by number and by name resolve to the same backend and its EndpointSlice ports") {
  auto result = renderClean(withWeb({ingress("shop", "web", rulesSpec("a.example.com", {
      path("/num", "Prefix", serviceBackend("web", {{"number", 80}})),
      path("/name", "Prefix", serviceBackend("web", {{"name", "http"}}))}))}));
  REQUIRE(result.table.routes.size() == 2);
  for (const auto& route : result.table.routes) {
    REQUIRE(route.backends.size() == 1);
    CHECK(route.backends[0].key == "shop/web:80");
    CHECK(route.backends[0].endpoints == std::vector<proxy::EndpointSpec>{
                                             {"10.0.0.1", 8080, 1}, {"10.0.0.2", 8080, 1}, {"10.0.0.3", 8080, 1}});
  }
}

TEST_CASE("a missing Service or port keeps the route with no backend (503) and reports BackendNotFound") {
  auto result = renderSnapshot(withWeb({ingress("shop", "web", rulesSpec("a.example.com", {
      path("/gone", "Prefix", serviceBackend("gone")),
      path("/badport", "Prefix", serviceBackend("web", {{"name", "grpc"}})),
      path("/badnum", "Prefix", serviceBackend("web", {{"number", 81}}))}))}));
  REQUIRE(result.table.routes.size() == 3);
  for (const auto& route : result.table.routes) CHECK(route.backends.empty());
  auto gone = diagnosticsAt(result, "spec.rules[0].http.paths[0].backend.service.name");
  REQUIRE(gone.size() == 1);
  CHECK(gone[0].reason == "BackendNotFound");
  CHECK(gone[0].condition == "ResolvedRefs");
  CHECK(gone[0].message.find("service \"shop/gone\" not found") != std::string::npos);
  CHECK(diagnosticsAt(result, "spec.rules[0].http.paths[1].backend.service.port").at(0).reason == "BackendNotFound");
  CHECK(diagnosticsAt(result, "spec.rules[0].http.paths[2].backend.service.port").at(0).reason == "BackendNotFound");
  CHECK(ownedNames(result) == std::vector<std::string>{"Ingress shop/web"});
}

TEST_CASE("endpoints that are not ready or are terminating get no traffic") {
  ObjectSnapshot s;
  s.services.push_back(service("shop", "web", {{{"name", "http"}, {"port", 80}}}));
  s.endpointSlices.push_back(slice("shop", "web-1", "web", {{{"name", "http"}, {"port", 8080}}}, {
      endpoint("10.0.0.1", {{"ready", true}}),
      endpoint("10.0.0.2", {{"ready", false}}),
      endpoint("10.0.0.3", {{"ready", true}, {"terminating", true}}),
      endpoint("10.0.0.4", {{"ready", false}, {"serving", true}, {"terminating", true}}),
      endpoint("10.0.0.5"),  // no conditions: ready
  }));
  s.ingresses = {ingress("shop", "web", rulesSpec("a.example.com", {path("/")}))};
  auto result = renderClean(s);
  REQUIRE(result.table.routes.size() == 1);
  REQUIRE(result.table.routes[0].backends.size() == 1);
  CHECK(result.table.routes[0].backends[0].endpoints ==
        std::vector<proxy::EndpointSpec>{{"10.0.0.1", 8080, 1}, {"10.0.0.5", 8080, 1}});
}

TEST_CASE("a resource backend is reported as UnsupportedBackend and only that path is skipped") {
  json resource = {{"resource", {{"apiGroup", "k8s.example.com"}, {"kind", "StorageBucket"}, {"name", "assets"}}}};
  auto result = renderSnapshot(withWeb({ingress("shop", "web", rulesSpec("a.example.com", {
      path("/assets", "Prefix", resource), path("/")}))}));
  CHECK(routeNames(result) == std::vector<std::string>{"shop/web/rule0-path1"});
  auto at = diagnosticsAt(result, "spec.rules[0].http.paths[0].backend.resource");
  REQUIRE(at.size() == 1);
  CHECK(at[0].reason == "UnsupportedBackend");
  CHECK(at[0].object.toString() == "Ingress shop/web");
}

TEST_CASE("defaultBackend becomes a catch-all Prefix / route that only gets what no rule matches") {
  json spec = rulesSpec("a.example.com", {path("/api")});
  spec["defaultBackend"] = serviceBackend("web", {{"name", "http"}});
  auto result = renderClean(withWeb({ingress("shop", "web", spec, "", {{"portico.dev/rewrite-target", "/v2"}})}));
  CHECK(routeNames(result) == std::vector<std::string>{"shop/web/rule0-path0", "shop/web/default-backend"});
  const auto* def = findRoute(result, "shop/web/default-backend");
  REQUIRE(def != nullptr);
  CHECK(def->hosts.empty());
  CHECK(def->pathType == proxy::PathMatchType::Prefix);
  CHECK(def->path == "/");
  REQUIRE(def->backends.size() == 1);
  CHECK(def->backends[0].key == "shop/web:80");
  CHECK_FALSE(def->rewritePathPrefix.has_value());  // rewrite-target is for paths only
  CHECK(matched(result.table, "a.example.com", "/api/x") == "shop/web/rule0-path0");
  CHECK(matched(result.table, "a.example.com", "/other") == "shop/web/default-backend");
  CHECK(matched(result.table, "elsewhere.test", "/api") == "shop/web/default-backend");
}

TEST_CASE("an Ingress with neither rules nor defaultBackend is reported and not owned") {
  auto result = renderSnapshot(withWeb({ingress("shop", "web", json::object())}));
  CHECK(result.table.routes.empty());
  CHECK(result.ownedIngresses.empty());
  CHECK(diagnosticsAt(result, "spec").at(0).reason == "InvalidField");
}

// ---- TLS --------------------------------------------------------------------------------

TEST_CASE("spec.tls with a kubernetes.io/tls Secret gives a certificate for its hosts") {
  json spec = rulesSpec("a.example.com", {path("/")});
  spec["tls"] = {{{"hosts", {"A.example.com", "*.example.com"}}, {"secretName", "web-tls"}}};
  ObjectSnapshot s = withWeb({ingress("shop", "web", spec)});
  s.secrets = {tlsSecret("shop", "web-tls", certA(), keyA())};
  auto result = renderClean(s);
  REQUIRE(result.table.certificates.size() == 1);
  CHECK(result.table.certificates[0].name == "shop/web-tls");
  CHECK(result.table.certificates[0].hosts == std::vector<std::string>{"a.example.com", "*.example.com"});
  CHECK(result.table.certificates[0].certificatePem == certA());
  CHECK(result.table.httpsRedirectHosts.empty());  // no ssl-redirect annotation
}

TEST_CASE("a tls entry without hosts covers the Ingress's rule hosts") {
  json spec = {{"rules", {hostRule("a.example.com", {path("/")}), hostRule("b.example.com", {path("/")})}},
               {"tls", {{{"secretName", "web-tls"}}}}};
  ObjectSnapshot s = withWeb({ingress("shop", "web", spec)});
  s.secrets = {tlsSecret("shop", "web-tls", certA(), keyA())};
  auto result = renderClean(s);
  REQUIRE(result.table.certificates.size() == 1);
  CHECK(result.table.certificates[0].hosts == std::vector<std::string>{"a.example.com", "b.example.com"});
}

TEST_CASE("a missing or invalid TLS Secret is reported and the hosts stay on plain HTTP, without redirect") {
  json spec = rulesSpec("a.example.com", {path("/")});
  spec["tls"] = {{{"hosts", {"a.example.com"}}, {"secretName", "missing"}},
                 {{"hosts", {"b.example.com"}}, {"secretName", "opaque"}}};
  ObjectSnapshot s = withWeb({ingress("shop", "web", spec, "", {{"portico.dev/ssl-redirect", "true"}})});
  json opaque = tlsSecret("shop", "opaque", certA(), keyA());
  opaque["type"] = "Opaque";
  s.secrets = {opaque};
  auto result = renderSnapshot(s);
  CHECK(result.table.routes.size() == 1);
  CHECK(result.table.certificates.empty());
  CHECK(result.table.httpsRedirectHosts.empty());
  CHECK(diagnosticsAt(result, "spec.tls[0].secretName").at(0).reason == "SecretNotFound");
  CHECK(diagnosticsAt(result, "spec.tls[1].secretName").at(0).reason == "InvalidSecret");
  CHECK(diagnosticsAt(result, "spec.tls[1].secretName").at(0).condition == "ResolvedRefs");
}

// ---- annotations ------------------------------------------------------------------------

TEST_CASE("ssl-redirect \"true\" redirects the TLS hosts whose certificate resolved") {
  json spec = rulesSpec("a.example.com", {path("/")});
  spec["tls"] = {{{"hosts", {"a.example.com"}}, {"secretName", "web-tls"}},
                 {{"hosts", {"b.example.com"}}, {"secretName", "missing"}}};
  ObjectSnapshot s = withWeb({ingress("shop", "web", spec, "", {{"portico.dev/ssl-redirect", "true"}})});
  s.secrets = {tlsSecret("shop", "web-tls", certA(), keyA())};
  auto result = renderSnapshot(s);
  CHECK(result.table.httpsRedirectHosts == std::vector<std::string>{"a.example.com"});
  SUBCASE("\"false\" does not redirect") {
    s.ingresses[0]["metadata"]["annotations"]["portico.dev/ssl-redirect"] = "false";
    CHECK(renderSnapshot(s).table.httpsRedirectHosts.empty());
  }
}

TEST_CASE("rewrite-target sets the prefix rewrite of every path") {
  auto result = renderClean(withWeb({ingress("shop", "web", rulesSpec("a.example.com", {path("/a"), path("/b", "Exact")}),
                                             "", {{"portico.dev/rewrite-target", "/new"}})}));
  REQUIRE(result.table.routes.size() == 2);
  CHECK(result.table.routes[0].rewritePathPrefix == std::optional<std::string>("/new"));
  CHECK(result.table.routes[1].rewritePathPrefix == std::optional<std::string>("/new"));
}

TEST_CASE("load-balancing selects the policy") {
  CHECK(annotatedRoute(json::object()).loadBalancing == proxy::LoadBalancingPolicy::RoundRobin);
  CHECK(annotatedRoute({{"portico.dev/load-balancing", "LeastRequest"}}).loadBalancing ==
        proxy::LoadBalancingPolicy::LeastRequest);
  CHECK(annotatedRoute({{"portico.dev/load-balancing", "Random"}}).loadBalancing ==
        proxy::LoadBalancingPolicy::Random);
  CHECK(annotatedRoute({{"portico.dev/load-balancing", "RoundRobin"}}).loadBalancing ==
        proxy::LoadBalancingPolicy::RoundRobin);
}

TEST_CASE("proxy-body-size takes bytes with k, m or g suffixes in powers of 1024") {
  CHECK(annotatedRoute(json::object()).maxRequestBodyBytes == 0);
  CHECK(annotatedRoute({{"portico.dev/proxy-body-size", "10m"}}).maxRequestBodyBytes == 10u * 1024 * 1024);
  CHECK(annotatedRoute({{"portico.dev/proxy-body-size", "512k"}}).maxRequestBodyBytes == 512u * 1024);
  CHECK(annotatedRoute({{"portico.dev/proxy-body-size", "1G"}}).maxRequestBodyBytes == 1024u * 1024 * 1024);
  CHECK(annotatedRoute({{"portico.dev/proxy-body-size", "1500"}}).maxRequestBodyBytes == 1500);
}

TEST_CASE("connect-timeout and request-timeout take Go durations") {
  auto r = annotatedRoute({{"portico.dev/connect-timeout", "1.5s"}, {"portico.dev/request-timeout", "2m"}});
  CHECK(r.timeouts.connect == 1500ms);
  CHECK(r.timeouts.request == 120000ms);
  CHECK(r.timeouts.idle == proxy::Timeouts{}.idle);
}

TEST_CASE("an invalid annotation value rejects the Ingress with InvalidAnnotation") {
  checkRejectedBy("portico.dev/ssl-redirect", "yes", "InvalidAnnotation");
  checkRejectedBy("portico.dev/rewrite-target", "new", "InvalidAnnotation");
  checkRejectedBy("portico.dev/rewrite-target", "/$1", "InvalidAnnotation");
  checkRejectedBy("portico.dev/load-balancing", "ConsistentHash", "InvalidAnnotation");
  checkRejectedBy("portico.dev/proxy-body-size", "10mb", "InvalidAnnotation");
  checkRejectedBy("portico.dev/proxy-body-size", "0", "InvalidAnnotation");
  checkRejectedBy("portico.dev/proxy-body-size", "99999999999g", "InvalidAnnotation");
  checkRejectedBy("portico.dev/connect-timeout", "5", "InvalidAnnotation");
  checkRejectedBy("portico.dev/request-timeout", "1d", "InvalidAnnotation");
}

TEST_CASE("unknown rate-limit and auth annotations block the whole Ingress; half a known set is InvalidAnnotation") {
  checkRejectedBy("portico.dev/rate-limit", "100", "UnsupportedFeature");
  checkRejectedBy("portico.dev/ratelimit-rps", "100", "UnsupportedFeature");
  checkRejectedBy("portico.dev/auth-url", "http://authz", "UnsupportedFeature");
  checkRejectedBy("portico.dev/rate-limit-burst", "20", "InvalidAnnotation");
  checkRejectedBy("portico.dev/auth-secret", "users", "InvalidAnnotation");
  checkRejectedBy("portico.dev/auth-type", "basic", "InvalidAnnotation");
}

TEST_CASE("a blocked Ingress does not take down other Ingresses") {
  auto result = renderSnapshot(withWeb({
      ingress("shop", "open", rulesSpec("a.example.com", {path("/")})),
      ingress("shop", "guarded", rulesSpec("b.example.com", {path("/")}), "", {{"portico.dev/auth-url", "http://x"}}),
  }));
  CHECK(routeNames(result) == std::vector<std::string>{"shop/open/rule0-path0"});
  CHECK(ownedNames(result) == std::vector<std::string>{"Ingress shop/open"});
}

TEST_CASE("an unknown portico.dev annotation is reported but the Ingress is still served; foreign annotations are ignored") {
  auto result = renderSnapshot(withWeb({ingress("shop", "web", rulesSpec("a.example.com", {path("/")}), "",
                                                {{"portico.dev/ssl-redirct", "true"},
                                                 {"nginx.ingress.kubernetes.io/rewrite-target", "/$1"}})}));
  CHECK(result.table.routes.size() == 1);
  REQUIRE(result.diagnostics.size() == 1);
  CHECK(result.diagnostics[0].field == "metadata.annotations[portico.dev/ssl-redirct]");
  CHECK(result.diagnostics[0].reason == "UnknownAnnotation");
  CHECK_FALSE(result.table.routes[0].rewritePathPrefix.has_value());
}

// ---- merging and conflicts --------------------------------------------------------------

TEST_CASE("several Ingresses for one host merge their paths") {
  auto result = renderClean(withWeb({
      ingress("shop", "b", rulesSpec("a.example.com", {path("/b")}), "2024-01-02T00:00:00Z"),
      ingress("shop", "a", rulesSpec("a.example.com", {path("/a")}), "2024-01-01T00:00:00Z"),
  }));
  CHECK(routeNames(result) == std::vector<std::string>{"shop/a/rule0-path0", "shop/b/rule0-path0"});
  CHECK(matched(result.table, "a.example.com", "/b/x") == "shop/b/rule0-path0");
}

TEST_CASE("the same host, path and pathType in two Ingresses goes to the oldest; the other gets a Conflict") {
  ObjectSnapshot s = withWeb({
      ingress("shop", "newer", rulesSpec("a.example.com", {path("/api"), path("/only-newer")}), "2024-02-01T00:00:00Z"),
      ingress("other", "older", rulesSpec("a.example.com", {path("/api/")}), "2024-01-01T00:00:00Z"),
  });
  addWebService(s, "other");
  auto result = renderSnapshot(s);
  CHECK(routeNames(result) == std::vector<std::string>{"other/older/rule0-path0", "shop/newer/rule0-path1"});
  REQUIRE(result.diagnostics.size() == 1);
  const auto& d = result.diagnostics[0];
  CHECK(d.object.toString() == "Ingress shop/newer");
  CHECK(d.field == "spec.rules[0].http.paths[0]");
  CHECK(d.reason == "Conflict");
  CHECK(d.message.find("Ingress other/older") != std::string::npos);
  CHECK(ownedNames(result) == std::vector<std::string>{"Ingress other/older", "Ingress shop/newer"});
}

TEST_CASE("same creationTimestamp: namespace/name order decides the conflict") {
  auto result = renderSnapshot(withWeb({
      ingress("shop", "b", rulesSpec("", {path("/", "Exact")}), "2024-01-01T00:00:00Z"),
      ingress("shop", "a", rulesSpec("", {path("/", "Exact")}), "2024-01-01T00:00:00Z"),
  }));
  CHECK(routeNames(result) == std::vector<std::string>{"shop/a/rule0-path0"});
  REQUIRE(result.diagnostics.size() == 1);
  CHECK(result.diagnostics[0].object.toString() == "Ingress shop/b");
}

TEST_CASE("a different pathType or host is not a conflict") {
  auto result = renderClean(withWeb({
      ingress("shop", "a", rulesSpec("a.example.com", {path("/x", "Prefix")}), "2024-01-01T00:00:00Z"),
      ingress("shop", "b", rulesSpec("a.example.com", {path("/x", "Exact")}), "2024-01-02T00:00:00Z"),
      ingress("shop", "c", rulesSpec("*.example.com", {path("/x", "Prefix")}), "2024-01-03T00:00:00Z"),
  }));
  CHECK(result.table.routes.size() == 3);
}

TEST_CASE("conflicts between an Ingress and an APIRoute go to the oldest either way") {
  json apiSpec = {{"hosts", {"a.example.com", "b.example.com"}},
                  {"rules", {rule("api", {{"match", {{"path", {{"type", "Prefix"}, {"value", "/api"}}}}}})}}};
  SUBCASE("older Ingress: the APIRoute keeps only the host it did not lose") {
    ObjectSnapshot s = withWeb({ingress("shop", "web", rulesSpec("a.example.com", {path("/api")}), "2024-01-01T00:00:00Z")});
    s.apiRoutes = {apiRoute("shop", "orders", apiSpec, "2024-02-01T00:00:00Z")};
    auto result = renderSnapshot(s);
    CHECK(routeNames(result) == std::vector<std::string>{"shop/web/rule0-path0", "shop/orders/api"});
    CHECK(findRoute(result, "shop/orders/api")->hosts == std::vector<std::string>{"b.example.com"});
    REQUIRE(result.diagnostics.size() == 1);
    CHECK(result.diagnostics[0].object.toString() == "APIRoute shop/orders");
    CHECK(result.diagnostics[0].field == "spec.rules[0]");
    CHECK(result.diagnostics[0].reason == "Conflict");
    CHECK(result.diagnostics[0].message.find("Ingress shop/web") != std::string::npos);
  }
  SUBCASE("older APIRoute: the Ingress path is skipped") {
    ObjectSnapshot s = withWeb({ingress("shop", "web", rulesSpec("a.example.com", {path("/api")}), "2024-02-01T00:00:00Z")});
    s.apiRoutes = {apiRoute("shop", "orders", apiSpec, "2024-01-01T00:00:00Z")};
    auto result = renderSnapshot(s);
    CHECK(routeNames(result) == std::vector<std::string>{"shop/orders/api"});
    REQUIRE(result.diagnostics.size() == 1);
    CHECK(result.diagnostics[0].object.toString() == "Ingress shop/web");
    CHECK(result.diagnostics[0].message.find("APIRoute shop/orders") != std::string::npos);
  }
}

TEST_CASE("two defaultBackends: the oldest keeps the catch-all") {
  json a = {{"defaultBackend", serviceBackend("web")}};
  auto result = renderSnapshot(withWeb({
      ingress("shop", "late", a, "2024-03-01T00:00:00Z"),
      ingress("shop", "early", a, "2024-01-01T00:00:00Z"),
  }));
  CHECK(routeNames(result) == std::vector<std::string>{"shop/early/default-backend"});
  REQUIRE(result.diagnostics.size() == 1);
  CHECK(result.diagnostics[0].field == "spec.defaultBackend");
  CHECK(result.diagnostics[0].reason == "Conflict");
}

// ---- determinism and scale --------------------------------------------------------------

TEST_CASE("shuffled input renders byte-identical JSON") {
  ObjectSnapshot base = withWeb({
      ingress("shop", "a", rulesSpec("a.example.com", {path("/x"), path("/y", "Exact")}), "2024-01-01T00:00:00Z"),
      ingress("shop", "b", rulesSpec("a.example.com", {path("/x")}), "2024-01-01T00:00:00Z"),
      ingress("dev", "c", {{"defaultBackend", serviceBackend("web")}, {"tls", {{{"hosts", {"c.example.com"}}, {"secretName", "c-tls"}}}},
                           {"rules", {hostRule("c.example.com", {path("/")})}}}, "", {{"portico.dev/ssl-redirect", "true"}}),
      ingress("shop", "d", rulesSpec("d.example.com", {path("/")}), "2024-05-01T00:00:00Z", {{"portico.dev/unknown", "1"}}),
      ingress("shop", "e", rulesSpec("e.example.com", {path("/")}), "", {{"portico.dev/auth-secret", "s"}}),
  });
  addWebService(base, "dev");
  base.secrets = {tlsSecret("dev", "c-tls", certA(), keyA())};
  base.apiRoutes = {apiRoute("shop", "api", {{"hosts", {"a.example.com"}}, {"rules", {rule("r", {{"match", {{"path", {{"value", "/x"}}}}}})}}},
                             "2024-01-01T00:00:00Z")};
  auto dump = [](const RenderResult& r) {
    std::string owned;
    for (const auto& o : r.ownedIngresses) owned += o.toString() + ";";
    return toJson(r.table, true).dump() + toJson(r.diagnostics).dump() + owned;
  };
  const std::string expected = dump(renderSnapshot(base));
  std::mt19937 rng(4242);
  for (int i = 0; i < 20; ++i) {
    auto shuffled = base;
    std::shuffle(shuffled.ingresses.begin(), shuffled.ingresses.end(), rng);
    std::shuffle(shuffled.services.begin(), shuffled.services.end(), rng);
    std::shuffle(shuffled.endpointSlices.begin(), shuffled.endpointSlices.end(), rng);
    CHECK(dump(renderSnapshot(shuffled)) == expected);
  }
}

// The time is printed, not asserted: a unit test under parallel CTest on a busy machine
// is no benchmark (it took 1.1-1.7 s there, ~0.12 s quiet).
TEST_CASE("10,000 Ingresses with a Service of 3 endpoints each render completely") {
  constexpr int kCount = 10000;
  ObjectSnapshot s;
  s.ingresses.reserve(kCount);
  s.services.reserve(kCount);
  s.endpointSlices.reserve(kCount);
  for (int i = 0; i < kCount; ++i) {
    std::string ns = "ns" + std::to_string(i % 100);
    std::string name = "app" + std::to_string(i);
    std::string host = name + ".example.com";
    s.services.push_back(service(ns, name, {{{"name", "http"}, {"port", 80}}}));
    std::string base = "10." + std::to_string(i / 256 % 256) + "." + std::to_string(i % 256) + ".";
    s.endpointSlices.push_back(slice(ns, name + "-x1", name, {{{"name", "http"}, {"port", 8080}}},
                                     {endpoint(base + "1"), endpoint(base + "2"), endpoint(base + "3")}));
    s.ingresses.push_back(ingress(ns, name, rulesSpec(host, {
        path("/", "Prefix", serviceBackend(name, {{"number", 80}})),
        path("/api", "Exact", serviceBackend(name, {{"name", "http"}}))}),
        "2024-01-01T00:00:" + std::to_string(10 + i % 50) + "Z"));
  }
  auto start = std::chrono::steady_clock::now();
  auto result = render(s, RenderOptions{});
  auto elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start);
  MESSAGE("rendered " << kCount << " Ingresses (" << result.table.routes.size() << " routes) in "
                      << elapsed.count() << " ms");
  CHECK(result.diagnostics.empty());
  CHECK(result.table.routes.size() == 2 * kCount);
  CHECK(result.ownedIngresses.size() == kCount);
  REQUIRE(!result.table.routes.empty());
  CHECK(result.table.routes[0].backends.at(0).endpoints.size() == 3);
}

// ---- gateway and resilience annotations ------------------------------------------------

TEST_CASE("annotations: api-key auth from a Secret in the Ingress's namespace, on every path") {
  ObjectSnapshot s = withWeb({ingress("shop", "web",
                                      {{"rules", {hostRule("app.example.com", {path("/a"), path("/b")})}},
                                       {"defaultBackend", serviceBackend("web")}},
                                      "", {{"portico.dev/auth-type", "api-key"},
                                           {"portico.dev/auth-secret", "keys"},
                                           {"portico.dev/auth-header", "X-Token"}})});
  s.secrets = {opaqueSecret("shop", "keys", {{"alice", "k1"}})};
  auto result = renderClean(s);
  REQUIRE(result.table.routes.size() == 3);
  for (const auto& r : result.table.routes) {
    REQUIRE(r.auth.apiKey.has_value());
    CHECK(r.auth.apiKey->header == "X-Token");
    CHECK(r.auth.apiKey->keys == std::vector<std::pair<std::string, std::string>>{{"alice", "k1"}});
  }
}

TEST_CASE("annotations: basic auth with ingress-nginx's data key auth and a realm") {
  const std::string hash = "$2y$05$" + std::string(53, 'x');
  ObjectSnapshot s = withWeb({ingress("shop", "web", rulesSpec("app.example.com", {path("/app")}), "",
                                      {{"portico.dev/auth-type", "basic"},
                                       {"portico.dev/auth-secret", "users"},
                                       {"portico.dev/auth-realm", "Shop"}})});
  s.secrets = {opaqueSecret("shop", "users", {{"auth", "alice:" + hash + "\n"}})};
  auto r = renderClean(s).table.routes.at(0);
  REQUIRE(r.auth.basic.has_value());
  CHECK(r.auth.basic->realm == "Shop");
  CHECK(r.auth.basic->htpasswd == "alice:" + hash);
}

TEST_CASE("annotations: a missing or invalid auth Secret blocks the Ingress (ResolvedRefs on auth-secret)") {
  for (bool present : {false, true}) {
    CAPTURE(present);
    ObjectSnapshot s = withWeb({ingress("shop", "web", rulesSpec("app.example.com", {path("/app")}), "",
                                        {{"portico.dev/auth-type", "api-key"}, {"portico.dev/auth-secret", "keys"}})});
    if (present) s.secrets = {opaqueSecret("shop", "keys", {})};
    auto result = renderSnapshot(s);
    CHECK(result.table.routes.empty());
    CHECK(result.ownedIngresses.empty());
    auto at = diagnosticsAt(result, "metadata.annotations[portico.dev/auth-secret]");
    REQUIRE_MESSAGE(at.size() == 1, diagnosticsText(result));
    CHECK(at[0].reason == (present ? "InvalidSecret" : "SecretNotFound"));
    CHECK(at[0].condition == "ResolvedRefs");
  }
}

TEST_CASE("annotations: backend-protocol HTTPS verifies <service>.<namespace>.svc against a CA Secret") {
  ObjectSnapshot s = withWeb({ingress("shop", "web", rulesSpec("app.example.com", {path("/app")}), "",
                                      {{"portico.dev/backend-protocol", "HTTPS"},
                                       {"portico.dev/backend-tls-ca-secret", "web-ca"},
                                       {"portico.dev/backend-tls-client-certificate-secret", "edge"}})});
  s.secrets = {opaqueSecret("shop", "web-ca", {{"ca.crt", certA()}}), tlsSecret("shop", "edge", certB(), keyB())};
  auto r = renderClean(s).table.routes.at(0);
  REQUIRE(r.backends.at(0).tls.has_value());
  const proxy::UpstreamTlsSpec& tls = *r.backends[0].tls;
  CHECK(tls.serverName == "web.shop.svc");
  CHECK(tls.caPem == certA());
  CHECK(tls.caSource == "shop/web-ca");
  CHECK(tls.clientCertificatePem == certB());
  CHECK(tls.clientKeyPem == keyB());
  CHECK_FALSE(tls.insecureSkipVerify);

  auto plain = renderClean(withWeb({ingress("shop", "web", rulesSpec("app.example.com", {path("/app")}))}));
  CHECK_FALSE(plain.table.routes.at(0).backends.at(0).tls.has_value());
}

TEST_CASE("annotations: backend-tls-sni and subject-alt-names; the system trust store without a CA") {
  auto r = annotatedRoute({{"portico.dev/backend-protocol", "HTTPS"},
                           {"portico.dev/backend-tls-sni", "Web.Internal"},
                           {"portico.dev/backend-tls-subject-alt-names", "web.internal, 10.0.0.9"}});
  REQUIRE(r.backends.at(0).tls.has_value());
  CHECK(r.backends[0].tls->serverName == "web.internal");
  CHECK(r.backends[0].tls->subjectAltNames == std::vector<std::string>{"web.internal", "10.0.0.9"});
  CHECK(r.backends[0].tls->caPem.empty());
}

TEST_CASE("annotations: backend-tls-* without HTTPS, bad values and skip-verify with a CA block the Ingress") {
  const std::vector<std::pair<json, std::string>> cases = {
      {{{"portico.dev/backend-tls-sni", "web.internal"}}, "portico.dev/backend-tls-sni"},
      {{{"portico.dev/backend-protocol", "https"}}, "portico.dev/backend-protocol"},
      {{{"portico.dev/backend-protocol", "HTTPS"}, {"portico.dev/backend-tls-sni", "a b"}},
       "portico.dev/backend-tls-sni"},
      {{{"portico.dev/backend-protocol", "HTTPS"},
        {"portico.dev/backend-tls-insecure-skip-verify", "true"},
        {"portico.dev/backend-tls-ca-secret", "web-ca"}},
       "portico.dev/backend-tls-ca-secret"},
      {{{"portico.dev/backend-protocol", "HTTPS"}, {"portico.dev/backend-tls-ca-secrets", "web-ca"}},
       "portico.dev/backend-tls-ca-secrets"},  // a typo must not fall back silently
  };
  for (const auto& [annotations, key] : cases) {
    CAPTURE(annotations.dump());
    ObjectSnapshot s =
        withWeb({ingress("shop", "web", rulesSpec("app.example.com", {path("/app")}), "", annotations)});
    s.secrets = {opaqueSecret("shop", "web-ca", {{"ca.crt", certA()}})};
    auto result = renderSnapshot(s);
    CHECK(result.table.routes.empty());
    CHECK(diagnosticsAt(result, "metadata.annotations[" + key + "]").size() == 1);
  }
}

TEST_CASE("annotations: a missing or unusable backend CA Secret blocks the Ingress rather than go plaintext") {
  for (bool present : {false, true}) {
    CAPTURE(present);
    ObjectSnapshot s = withWeb({ingress("shop", "web", rulesSpec("app.example.com", {path("/app")}), "",
                                        {{"portico.dev/backend-protocol", "HTTPS"},
                                         {"portico.dev/backend-tls-ca-secret", "web-ca"}})});
    if (present) s.secrets = {opaqueSecret("shop", "web-ca", {{"ca.crt", "not a certificate"}})};
    auto result = renderSnapshot(s);
    CHECK(result.table.routes.empty());
    auto at = diagnosticsAt(result, "metadata.annotations[portico.dev/backend-tls-ca-secret]");
    REQUIRE_MESSAGE(at.size() == 1, diagnosticsText(result));
    CHECK(at[0].reason == (present ? "InvalidSecret" : "SecretNotFound"));
  }
}

TEST_CASE("annotations: client-auth-* put client certificates on every spec.tls certificate of the Ingress") {
  json spec = rulesSpec("app.example.com", {path("/app")});
  spec["tls"] = {{{"hosts", {"app.example.com"}}, {"secretName", "app-tls"}}};
  ObjectSnapshot s = withWeb({ingress("shop", "web", spec, "",
                                      {{"portico.dev/client-auth-ca-secret", "partners"},
                                       {"portico.dev/client-auth-mode", "Optional"}})});
  s.secrets = {tlsSecret("shop", "app-tls", certA(), keyA()), opaqueSecret("shop", "partners", {{"ca.crt", certB()}})};
  auto result = renderClean(s);
  REQUIRE(result.table.certificates.size() == 1);
  REQUIRE(result.table.certificates[0].clientAuth.has_value());
  CHECK(result.table.certificates[0].clientAuth->caPem == certB());
  CHECK(result.table.certificates[0].clientAuth->mode == proxy::ClientAuthMode::Optional);
  CHECK(result.table.routes.size() == 1);
}

TEST_CASE("annotations: hsts-max-age, hsts-include-subdomains and tls-min-version on every spec.tls certificate") {
  json spec = rulesSpec("app.example.com", {path("/app")});
  spec["tls"] = {{{"hosts", {"app.example.com"}}, {"secretName", "app-tls"}}};
  ObjectSnapshot s = withWeb({ingress("shop", "web", spec, "",
                                      {{"portico.dev/hsts-max-age", "1h"}, {"portico.dev/hsts-include-subdomains", "true"},
                                       {"portico.dev/tls-min-version", "1.3"}})});
  s.secrets = {tlsSecret("shop", "app-tls", certA(), keyA())};
  auto result = renderClean(s);
  REQUIRE(result.table.certificates.size() == 1);
  CHECK(result.table.certificates[0].hsts == "max-age=3600; includeSubDomains");
  CHECK(result.table.certificates[0].tls13Only);
}

TEST_CASE("annotations: client-auth fails closed: no spec.tls, a missing Secret, or a typo block the Ingress") {
  json withTls = rulesSpec("app.example.com", {path("/app")});
  withTls["tls"] = {{{"hosts", {"app.example.com"}}, {"secretName", "app-tls"}}};
  const json noTls = rulesSpec("app.example.com", {path("/app")});
  struct Case {
    json spec;
    json annotations;
    std::vector<json> secrets;
    std::string field;
  };
  const json ok = {{"portico.dev/client-auth-ca-secret", "partners"}};
  const std::vector<Case> cases = {
      {noTls, ok, {}, "metadata.annotations[portico.dev/client-auth-ca-secret]"},
      {withTls, ok, {tlsSecret("shop", "app-tls", certA(), keyA())}, "metadata.annotations[portico.dev/client-auth-ca-secret]"},
      {withTls, ok, {opaqueSecret("shop", "partners", {{"ca.crt", certB()}})}, "spec.tls[0].secretName"},
      {withTls, {{"portico.dev/client-auth-mode", "Require"}}, {}, "metadata.annotations[portico.dev/client-auth-mode]"},
      {withTls, {{"portico.dev/client-auth-ca-secrets", "partners"}}, {}, "metadata.annotations[portico.dev/client-auth-ca-secrets]"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.annotations.dump());
    CAPTURE(c.secrets.size());
    ObjectSnapshot s = withWeb({ingress("shop", "web", c.spec, "", c.annotations)});
    s.secrets = c.secrets;
    auto result = renderSnapshot(s);
    CHECK(result.table.routes.empty());
    CHECK(diagnosticsAt(result, c.field).size() == 1);
  }
}

TEST_CASE("annotations: rate limit, CORS, source ranges, retries, hashing, affinity, health checks") {
  auto r = annotatedRoute({{"portico.dev/rate-limit-requests", "100"},
                           {"portico.dev/rate-limit-period", "1m"},
                           {"portico.dev/rate-limit-burst", "10"},
                           {"portico.dev/rate-limit-key", "Header:X-Tenant"},
                           {"portico.dev/cors-allow-origins", "https://a.example.com, https://*.example.org"},
                           {"portico.dev/cors-allow-methods", "get,POST"},
                           {"portico.dev/cors-allow-credentials", "true"},
                           {"portico.dev/allow-source-ranges", "10.0.0.0/8, 2001:DB8::/32"},
                           {"portico.dev/deny-source-ranges", "10.1.0.0/16"},
                           {"portico.dev/retries", "3"},
                           {"portico.dev/retry-on", "5xx,gateway-error, 429"},
                           {"portico.dev/hash-on", "Header:X-User"},
                           {"portico.dev/health-check-path", "/ready"}});
  REQUIRE(r.rateLimit.has_value());
  CHECK(r.rateLimit->requests == 100);
  CHECK(r.rateLimit->period == 60000ms);
  CHECK(r.rateLimit->burst == 10);
  CHECK(r.rateLimit->key == proxy::RateLimitKey::Header);
  CHECK(r.rateLimit->keyName == "X-Tenant");
  REQUIRE(r.cors.has_value());
  CHECK(r.cors->allowOrigins == std::vector<std::string>{"https://a.example.com", "https://*.example.org"});
  CHECK(r.cors->allowMethods == std::vector<std::string>{"GET", "POST"});
  CHECK(r.cors->allowCredentials);
  CHECK(r.ipRules.allow == std::vector<std::string>{"10.0.0.0/8", "2001:db8::/32"});
  CHECK(r.ipRules.deny == std::vector<std::string>{"10.1.0.0/16"});
  REQUIRE(r.retries.has_value());
  CHECK(r.retries->attempts == 3);
  CHECK(r.retries->on5xx);
  CHECK_FALSE(r.retries->onConnectFailure);
  CHECK(r.retries->onStatuses == std::vector<unsigned>{429, 502, 503, 504});
  CHECK(r.loadBalancing == proxy::LoadBalancingPolicy::ConsistentHash);
  CHECK(r.hashOn.source == proxy::HashSource::Header);
  CHECK(r.hashOn.name == "X-User");
  REQUIRE(r.healthCheck.has_value());
  CHECK(r.healthCheck->path == "/ready");

  auto a = annotatedRoute({{"portico.dev/affinity-cookie", "sticky"}, {"portico.dev/retries", "1"},
                           {"portico.dev/rate-limit-requests", "5"}});
  REQUIRE(a.sessionAffinity.has_value());
  CHECK(a.sessionAffinity->cookieName == "sticky");
  CHECK(a.retries->onConnectFailure);  // default conditions
  CHECK(a.retries->onReset);
  CHECK(a.rateLimit->period == 1000ms);  // default period
  CHECK(a.rateLimit->key == proxy::RateLimitKey::ClientIP);

  auto none = annotatedRoute({});
  CHECK_FALSE(none.rateLimit.has_value());
  CHECK_FALSE(none.cors.has_value());
  CHECK(none.ipRules.empty());
  CHECK(none.auth.empty());
  CHECK_FALSE(none.retries.has_value());
}

TEST_CASE("annotations: invalid gateway values block the Ingress with InvalidAnnotation on that annotation") {
  checkRejectedBy("portico.dev/auth-type", "jwt", "InvalidAnnotation");
  checkRejectedBy("portico.dev/rate-limit-requests", "0", "InvalidAnnotation");
  checkRejectedBy("portico.dev/rate-limit-requests", "many", "InvalidAnnotation");
  checkRejectedBy("portico.dev/rate-limit-period", "1d", "InvalidAnnotation");
  checkRejectedBy("portico.dev/rate-limit-key", "IP", "InvalidAnnotation");
  checkRejectedBy("portico.dev/cors-allow-origins", "https://a.example.com,example.org", "InvalidAnnotation");
  checkRejectedBy("portico.dev/cors-allow-methods", "GET", "InvalidAnnotation");  // needs origins
  checkRejectedBy("portico.dev/cors-allow-credentials", "yes", "InvalidAnnotation");
  checkRejectedBy("portico.dev/allow-source-ranges", "10.0.0.0/8,10.0.0.0/40", "InvalidAnnotation");
  checkRejectedBy("portico.dev/deny-source-ranges", "", "InvalidAnnotation");
  checkRejectedBy("portico.dev/retries", "11", "InvalidAnnotation");
  checkRejectedBy("portico.dev/retry-on", "5xx", "InvalidAnnotation");  // needs retries
  checkRejectedBy("portico.dev/hash-on", "Body", "InvalidAnnotation");
  checkRejectedBy("portico.dev/affinity-cookie", "a b", "InvalidAnnotation");
  checkRejectedBy("portico.dev/health-check-path", "ready", "InvalidAnnotation");
  checkRejectedBy("portico.dev/auth-header", "X-Key", "InvalidAnnotation");  // needs auth-type api-key

  auto combo = [](json annotations, const std::string& key) {
    CAPTURE(key);
    auto result = renderSnapshot(withWeb({ingress("shop", "web", rulesSpec("app.example.com", {path("/app")}), "",
                                                  std::move(annotations))}));
    CHECK(result.table.routes.empty());
    auto at = diagnosticsAt(result, "metadata.annotations[" + key + "]");
    REQUIRE_MESSAGE(at.size() == 1, diagnosticsText(result));
    CHECK(at[0].reason == "InvalidAnnotation");
  };
  combo({{"portico.dev/hash-on", "ClientIP"}, {"portico.dev/load-balancing", "Random"}}, "portico.dev/hash-on");
  combo({{"portico.dev/hash-on", "ClientIP"}, {"portico.dev/affinity-cookie", "s"}}, "portico.dev/affinity-cookie");
  combo({{"portico.dev/rate-limit-requests", "1"}, {"portico.dev/rate-limit-key", "Consumer"}},
        "portico.dev/rate-limit-key");
  combo({{"portico.dev/rate-limit-requests", "1"}, {"portico.dev/rate-limit-key", "Claim:sub"}},
        "portico.dev/rate-limit-key");
  combo({{"portico.dev/cors-allow-origins", "*"}, {"portico.dev/cors-allow-credentials", "true"}},
        "portico.dev/cors-allow-credentials");
}

TEST_CASE("annotations: an auth Secret rotation re-renders to a different table") {
  auto renderWith = [](const std::string& key) {
    ObjectSnapshot s = withWeb({ingress("shop", "web", rulesSpec("app.example.com", {path("/app")}), "",
                                        {{"portico.dev/auth-type", "api-key"}, {"portico.dev/auth-secret", "keys"}})});
    s.secrets = {opaqueSecret("shop", "keys", {{"alice", key}})};
    return renderClean(s);
  };
  auto a = renderWith("old-key");
  auto b = renderWith("new-key");
  CHECK(a.table.routes.at(0).auth.apiKey->keys.at(0).second == "old-key");
  CHECK(b.table.routes.at(0).auth.apiKey->keys.at(0).second == "new-key");
  CHECK(toJson(a.table).dump() != toJson(b.table).dump());
  CHECK(toJson(a.table).dump().find("old-key") == std::string::npos);
}

}  // TEST_SUITE
