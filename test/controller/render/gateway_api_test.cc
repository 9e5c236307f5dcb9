// Gateway API: the model (hostnames, selectors, grants, listeners, attachment), HTTPRoute
// rendering with the spec's precedence through the real router, and the status Portico
// writes (gateway_status.h). The golden case testdata/render/gateway-api covers a whole
// snapshot; these pin the rules one by one.
#include <doctest/doctest.h>

#include "controller/render/gateway_api.h"
#include "controller/render/gateway_status.h"
#include "controller/render/render.h"
#include "proxy/config/route_table.h"
#include "test/controller/test_support.h"

using nlohmann::json;
using namespace portico::controller;
using namespace portico::controller::test;

namespace {

const std::string kGroup = "gateway.networking.k8s.io";
const std::string kApi = "gateway.networking.k8s.io/v1";

json gatewayClass(const std::string& name, const std::string& controller = "portico.dev/gateway-controller") {
  return {{"apiVersion", kApi}, {"kind", "GatewayClass"}, {"metadata", {{"name", name}, {"generation", 1}}},
          {"spec", {{"controllerName", controller}}}};
}

json gateway(const std::string& ns, const std::string& name, json listeners, const std::string& cls = "portico") {
  return {{"apiVersion", kApi}, {"kind", "Gateway"},
          {"metadata", {{"namespace", ns}, {"name", name}, {"generation", 2}, {"uid", "gw-" + name}}},
          {"spec", {{"gatewayClassName", cls}, {"listeners", std::move(listeners)}}}};
}

json listener(const std::string& name, const std::string& protocol = "HTTP", int port = 80, const std::string& host = "") {
  json l = {{"name", name}, {"protocol", protocol}, {"port", port}};
  if (!host.empty()) l["hostname"] = host;
  return l;
}

json httpRoute(const std::string& ns, const std::string& name, json spec, const std::string& created = "") {
  json o = {{"apiVersion", kApi}, {"kind", "HTTPRoute"},
            {"metadata", {{"namespace", ns}, {"name", name}, {"generation", 4}}}, {"spec", std::move(spec)}};
  if (!created.empty()) o["metadata"]["creationTimestamp"] = created;
  return o;
}

json parentRef(const std::string& ns, const std::string& name, const std::string& section = "") {
  json p = {{"group", kGroup}, {"kind", "Gateway"}, {"namespace", ns}, {"name", name}};
  if (!section.empty()) p["sectionName"] = section;
  return p;
}

json service(const std::string& ns, const std::string& name) {
  return {{"apiVersion", "v1"}, {"kind", "Service"}, {"metadata", {{"namespace", ns}, {"name", name}}},
          {"spec", {{"ports", {{{"name", "http"}, {"port", 80}}}}}}};
}

json backendSlice(const std::string& ns, const std::string& svc, const std::string& address) {
  return slice(ns, svc + "-1", svc, json::array({{{"name", "http"}, {"port", 8080}}}),
               json::array({{{"addresses", {address}}, {"conditions", {{"ready", true}}}}}));
}

json grant(const std::string& ns, const std::string& fromKind, const std::string& fromNs, const std::string& toKind) {
  return {{"apiVersion", kApi}, {"kind", "ReferenceGrant"}, {"metadata", {{"namespace", ns}, {"name", "g"}}},
          {"spec", {{"from", {{{"group", kGroup}, {"kind", fromKind}, {"namespace", fromNs}}}},
                    {"to", {{{"group", ""}, {"kind", toKind}}}}}}};
}

// A cluster: our class, Gateway infra/web with one HTTP listener for *.example.com open to
// all namespaces, Services shop/store and shop/next with one endpoint each.
ObjectSnapshot cluster() {
  ObjectSnapshot s;
  s.gatewayClasses = {gatewayClass("portico"), gatewayClass("other", "example.com/else")};
  json l = listener("http", "HTTP", 80, "*.example.com");
  l["allowedRoutes"] = {{"namespaces", {{"from", "All"}}}};
  s.gateways = {gateway("infra", "web", {l})};
  s.services = {service("shop", "store"), service("shop", "next")};
  s.endpointSlices = {backendSlice("shop", "store", "10.244.0.1"), backendSlice("shop", "next", "10.244.0.2")};
  return s;
}

const json* condition(const json& conditions, const std::string& type) {
  for (const auto& c : conditions) {
    if (c["type"] == type) return &c;
  }
  return nullptr;
}

// status of kind/ns/name from computeGatewayApiStatuses.
json statusOf(const ObjectSnapshot& s, Kind kind, const std::string& ns, const std::string& name, bool published = true,
              const RenderOptions& options = {}) {
  auto statuses = computeGatewayApiStatuses(StoreSnapshot::fromLists(s), options, published,
                                            json::array({{{"type", "IPAddress"}, {"value", "10.0.0.9"}}}),
                                            "2026-01-01T00:00:00Z");
  for (const auto& st : statuses) {
    if (st.kind == kind && st.ns == ns && st.name == name) return st.status;
  }
  return nullptr;
}

// The route parent entry (ours) of an HTTPRoute status.
json parentCondition(const json& status, const std::string& type) {
  REQUIRE(status.is_object());
  for (const auto& p : status["parents"]) {
    if (p["controllerName"] == "portico.dev/gateway-controller") {
      const json* c = condition(p["conditions"], type);
      return c ? *c : json();
    }
  }
  return json();
}

struct Request : portico::proxy::RequestView {
  std::string m = "GET", h, p, q;
  std::map<std::string, std::string> headers;
  std::string_view method() const override { return m; }
  std::string_view host() const override { return h; }
  std::string_view path() const override { return p; }
  std::string_view query() const override { return q; }
  std::optional<std::string_view> header(std::string_view name) const override {
    auto it = headers.find(std::string(name));
    if (it == headers.end()) return std::nullopt;
    return std::string_view(it->second);
  }
};

}  // namespace

TEST_SUITE("render") {

TEST_CASE("gateway api: hostname intersection follows the spec") {
  using V = std::vector<std::string>;
  CHECK(intersectHostnames("", V{}) == V{});
  CHECK(intersectHostnames("", V{"a.example.com"}) == V{"a.example.com"});
  CHECK(intersectHostnames("a.example.com", V{}) == V{"a.example.com"});
  CHECK(intersectHostnames("*.example.com", V{"a.example.com", "a.b.example.com", "example.com", "x.org"}) ==
        V{"a.example.com", "a.b.example.com"});
  CHECK(intersectHostnames("a.example.com", V{"*.example.com"}) == V{"a.example.com"});
  CHECK(intersectHostnames("*.example.com", V{"*.b.example.com"}) == V{"*.b.example.com"});
  CHECK(intersectHostnames("*.b.example.com", V{"*.example.com"}) == V{"*.b.example.com"});
  CHECK_FALSE(intersectHostnames("a.example.com", V{"b.example.com"}).has_value());
  CHECK_FALSE(intersectHostnames("*.example.com", V{"example.com"}).has_value());
}

TEST_CASE("gateway api: label selectors (matchLabels and every matchExpressions operator)") {
  const json labels = {{"team", "shop"}, {"env", "prod"}};
  CHECK(labelsMatch(json::object(), &labels));
  CHECK(labelsMatch({{"matchLabels", {{"team", "shop"}}}}, &labels));
  CHECK_FALSE(labelsMatch({{"matchLabels", {{"team", "blog"}}}}, &labels));
  CHECK_FALSE(labelsMatch({{"matchLabels", {{"team", "shop"}}}}, nullptr));
  auto expr = [](std::string op, json values = json::array()) {
    return json{{"matchExpressions", {{{"key", "env"}, {"operator", op}, {"values", values}}}}};
  };
  CHECK(labelsMatch(expr("In", {"prod", "dev"}), &labels));
  CHECK_FALSE(labelsMatch(expr("In", {"dev"}), &labels));
  CHECK(labelsMatch(expr("NotIn", {"dev"}), &labels));
  CHECK_FALSE(labelsMatch(expr("NotIn", {"prod"}), &labels));
  CHECK(labelsMatch(expr("Exists"), &labels));
  CHECK_FALSE(labelsMatch(expr("DoesNotExist"), &labels));
  CHECK_FALSE(labelsMatch(expr("Bogus"), &labels));
}

TEST_CASE("gateway api: listener conditions (protocol, conflicts, route kinds, certificates and grants)") {
  ObjectSnapshot s = cluster();
  json kinds = listener("kinds", "HTTP", 9000);
  kinds["allowedRoutes"] = {{"kinds", {{{"kind", "GRPCRoute"}}}}};
  json https = listener("https", "HTTPS", 443, "shop.example.com");
  https["tls"] = {{"certificateRefs", {{{"name", "shop-tls"}, {"namespace", "certs"}}}}};
  json missing = listener("missing", "HTTPS", 443, "gone.example.com");
  missing["tls"] = {{"certificateRefs", {{{"name", "gone"}}}}};
  s.gateways = {gateway("infra", "web",
                        {listener("a", "HTTP", 80, "a.example.com"), listener("a2", "HTTP", 80, "a.example.com"),
                         listener("tcp", "TCP", 7000), listener("mixed", "HTTP", 443, "m.example.com"), kinds, https,
                         missing})};
  s.secrets = {tlsSecret("certs", "shop-tls", certA(), keyA())};
  ObjectIndex index(s);
  GatewayModel gw = readGateway(s.gateways[0], index);
  REQUIRE(gw.listeners.size() == 7);
  CHECK(gw.listeners[0].conflicted.reason == "HostnameConflict");
  CHECK(gw.listeners[1].conflicted.reason == "HostnameConflict");
  CHECK(gw.listeners[2].accepted.reason == "UnsupportedProtocol");
  CHECK_FALSE(gw.listeners[2].accepted.status);
  CHECK(gw.listeners[3].conflicted.reason == "ProtocolConflict");
  CHECK(gw.listeners[4].resolvedRefs.reason == "InvalidRouteKinds");
  CHECK_FALSE(gw.listeners[4].allowsHTTPRoute);
  // The Secret is in another namespace and no ReferenceGrant allows it.
  CHECK(gw.listeners[5].resolvedRefs.reason == "RefNotPermitted");
  CHECK(gw.listeners[6].resolvedRefs.reason == "InvalidCertificateRef");

  s.referenceGrants = {grant("certs", "Gateway", "infra", "Secret")};
  ObjectIndex granted(s);
  gw = readGateway(s.gateways[0], granted);
  CHECK(gw.listeners[5].resolvedRefs.status);
  // 443 carries HTTP and HTTPS listeners: a protocol conflict nonetheless.
  CHECK(gw.listeners[5].conflicted.reason == "ProtocolConflict");
  REQUIRE(gw.listeners[5].certificates.size() == 1);
  CHECK(gw.listeners[5].certificates[0].hosts == std::vector<std::string>{"shop.example.com"});
}

TEST_CASE("gateway api: a Gateway without an accepted listener is not accepted; one with unresolved refs counts routes") {
  ObjectSnapshot s = cluster();
  json missing = listener("tls", "HTTPS", 443, "gone.example.com");
  missing["tls"] = {{"certificateRefs", {{{"name", "gone"}}}}};
  s.gateways.push_back(gateway("infra", "only-tcp", {listener("tcp", "TCP", 7000), listener("udp", "UDP", 53)}));
  s.gateways.push_back(gateway("infra", "unresolved", {missing}));
  s.httpRoutes = {httpRoute("infra", "r", {{"parentRefs", {parentRef("infra", "unresolved")}},
                                           {"rules", {{{"backendRefs", {{{"name", "nowhere"}, {"port", 80}}}}}}}})};
  json st = statusOf(s, Kind::Gateway, "infra", "only-tcp");
  CHECK((*condition(st["conditions"], "Accepted"))["status"] == "False");
  CHECK((*condition(st["conditions"], "Accepted"))["reason"] == "ListenersNotValid");
  CHECK((*condition(st["conditions"], "Programmed"))["status"] == "False");

  st = statusOf(s, Kind::Gateway, "infra", "unresolved");
  CHECK((*condition(st["conditions"], "Accepted"))["status"] == "True");
  REQUIRE(st["listeners"].size() == 1);
  CHECK(st["listeners"][0]["attachedRoutes"] == 1);  // counted, though not served
  CHECK((*condition(st["listeners"][0]["conditions"], "Programmed"))["status"] == "False");
  json route = statusOf(s, Kind::HTTPRoute, "infra", "r");
  CHECK(parentCondition(route, "Accepted")["status"] == "True");
  CHECK(parentCondition(route, "ResolvedRefs")["status"] == "False");
  // Nothing is served for a listener without its certificate.
  for (const auto& r : render(s, RenderOptions{}).table.routes) CHECK(r.name.rfind("infra/r/", 0) != 0);
}

TEST_CASE("gateway api: parentRefs attach by section, namespace policy and hostname, with the spec's reasons") {
  ObjectSnapshot s = cluster();
  json same = listener("same", "HTTP", 8080);  // allowedRoutes default: Same namespace
  json team = listener("team", "HTTP", 8081);
  team["allowedRoutes"] = {{"namespaces", {{"from", "Selector"}, {"selector", {{"matchLabels", {{"team", "shop"}}}}}}}};
  s.gateways[0]["spec"]["listeners"].push_back(same);
  s.gateways[0]["spec"]["listeners"].push_back(team);
  s.gateways.push_back(gateway("infra", "theirs", {listener("http")}, "other"));
  s.namespaces = {{{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", "shop"}, {"labels", {{"team", "shop"}}}}}}};
  ObjectIndex index(s);
  auto attach = [&](json parent, json hostnames = json::array(), const std::string& ns = "shop") {
    json spec = {{"parentRefs", {parent}}};
    if (!hostnames.empty()) spec["hostnames"] = hostnames;
    auto parents = attachParents(httpRoute(ns, "r", spec), index, "portico.dev/gateway-controller");
    REQUIRE(parents.size() == 1);
    return parents[0];
  };
  auto ok = attach(parentRef("infra", "web", "http"), {"shop.example.com", "x.org"});
  CHECK(ok.ours);
  CHECK(ok.accepted);
  CHECK(ok.hosts == std::vector<std::string>{"shop.example.com"});
  CHECK(attach(parentRef("infra", "web", "nope")).reason == "NoMatchingParent");
  CHECK(attach(parentRef("infra", "web", "same")).reason == "NotAllowedByListeners");
  CHECK(attach(parentRef("infra", "web", "team")).accepted);                       // shop has team=shop
  CHECK(attach(parentRef("infra", "web", "team"), {}, "blog").reason == "NotAllowedByListeners");
  CHECK(attach(parentRef("infra", "web", "http"), {"shop.example.org"}).reason == "NoMatchingListenerHostname");
  json byPort = parentRef("infra", "web");
  byPort["port"] = 8081;
  CHECK(attach(byPort).listeners == std::vector<std::string>{"team"});
  // Another controller's Gateway, or one that does not exist: not ours to judge.
  CHECK_FALSE(attach(parentRef("infra", "theirs")).ours);
  CHECK_FALSE(attach(parentRef("infra", "nowhere")).ours);
}

TEST_CASE("gateway api: HTTPRoute precedence through the router: exact, longest prefix, method, headers, query, age") {
  ObjectSnapshot s = cluster();
  const json parent = {parentRef("infra", "web")};
  auto rule = [](json match, const std::string& svc) {
    return json{{"matches", {match}}, {"backendRefs", {{{"name", svc}, {"port", 80}}}}};
  };
  auto prefix = [](const std::string& p) { return json{{"path", {{"type", "PathPrefix"}, {"value", p}}}}; };
  json withMethod = prefix("/api");
  withMethod["method"] = "POST";
  json withHeaders = prefix("/api");
  withHeaders["headers"] = {{{"name", "x-a"}, {"value", "1"}}, {{"name", "x-b"}, {"value", "2"}}};
  json withOneHeader = prefix("/api");
  withOneHeader["headers"] = {{{"name", "x-a"}, {"value", "1"}}};
  json withQuery = prefix("/api");
  withQuery["queryParams"] = {{{"name", "v"}, {"value", "2"}}};
  // The newest object holds the most specific matches: order in the table must not decide.
  s.httpRoutes = {
      httpRoute("shop", "old", {{"parentRefs", parent}, {"hostnames", {"a.example.com"}},
                                {"rules", {rule(prefix("/"), "store")}}}, "2024-01-01T00:00:00Z"),
      httpRoute("shop", "older-twin", {{"parentRefs", parent}, {"hostnames", {"a.example.com"}},
                                       {"rules", {rule(prefix("/twin"), "store")}}}, "2024-01-01T00:00:00Z"),
      httpRoute("shop", "twin", {{"parentRefs", parent}, {"hostnames", {"a.example.com"}},
                                 {"rules", {rule(prefix("/twin"), "next")}}}, "2024-06-01T00:00:00Z"),
      httpRoute("shop", "new", {{"parentRefs", parent}, {"hostnames", {"a.example.com"}},
                                {"rules", {rule(withQuery, "q"), rule(withOneHeader, "h1"), rule(withHeaders, "h2"),
                                           rule(withMethod, "m"), rule(prefix("/api"), "api"), rule(prefix("/api/v1"), "v1"),
                                           rule({{"path", {{"type", "Exact"}, {"value", "/api/v1"}}}}, "exact")}}},
                "2025-01-01T00:00:00Z"),
  };
  for (const char* svc : {"q", "h1", "h2", "m", "api", "v1", "exact"}) {
    s.services.push_back(service("shop", svc));
    s.endpointSlices.push_back(backendSlice("shop", svc, "10.244.1.1"));
  }
  RenderResult result = render(s, RenderOptions{});
  CHECK(result.diagnostics.empty());
  auto table = portico::proxy::RouteTable::build(result.table, 1);
  REQUIRE(table);
  auto backendOf = [&](Request rq) {
    rq.h = "a.example.com";
    const portico::proxy::Route* route = (*table)->match(rq);
    REQUIRE(route != nullptr);
    REQUIRE(!route->spec.backends.empty());
    return route->spec.backends[0].key;
  };
  Request rq;
  rq.p = "/api/v1";
  CHECK(backendOf(rq) == "shop/exact:80");
  rq.p = "/api/v1/x";
  CHECK(backendOf(rq) == "shop/v1:80");
  rq.p = "/api/x";
  CHECK(backendOf(rq) == "shop/api:80");
  rq.m = "POST";
  rq.headers = {{"x-a", "1"}, {"x-b", "2"}};
  rq.q = "v=2";
  CHECK(backendOf(rq) == "shop/m:80");  // method beats headers and query
  rq.m = "GET";
  CHECK(backendOf(rq) == "shop/h2:80");  // then more headers
  rq.headers = {{"x-a", "1"}};
  CHECK(backendOf(rq) == "shop/h1:80");
  rq.headers.clear();
  CHECK(backendOf(rq) == "shop/q:80");  // then query params
  rq.q.clear();
  rq.p = "/twin";
  CHECK(backendOf(rq) == "shop/store:80");  // a tie: the older HTTPRoute
  rq.p = "/other";
  CHECK(backendOf(rq) == "shop/store:80");
}

TEST_CASE("gateway api: unresolved backendRefs keep their weight (answered 500); a rule without backendRefs has only that") {
  ObjectSnapshot s = cluster();
  const json parent = {parentRef("infra", "web")};
  auto prefix = [](const std::string& p) { return json{{"path", {{"type", "PathPrefix"}, {"value", p}}}}; };
  s.httpRoutes = {httpRoute("shop", "r", {{"parentRefs", parent}, {"hostnames", {"a.example.com"}},
                                          {"rules", {{{"matches", {prefix("/mixed")}},
                                                      {"backendRefs", {{{"name", "store"}, {"port", 80}, {"weight", 3}},
                                                                       {{"name", "gone"}, {"port", 80}, {"weight", 2}},
                                                                       {{"kind", "Bucket"}, {"name", "x"}}}}},
                                                     {{"matches", {prefix("/none")}}},
                                                     {{"matches", {prefix("/ok")}},
                                                      {"backendRefs", {{{"name", "store"}, {"port", 80}}}}}}}})};
  RenderResult result = render(s, RenderOptions{});
  CHECK(result.diagnostics.size() == 2);  // BackendNotFound, InvalidKind
  std::map<std::string, const portico::proxy::RouteSpec*> byPath;
  for (const auto& r : result.table.routes) byPath[r.path] = &r;
  REQUIRE(byPath.size() == 3);
  CHECK(byPath["/mixed"]->backends.size() == 1);
  CHECK(byPath["/mixed"]->unresolvedBackendWeight == 3);  // 2 + the default weight 1
  CHECK(byPath["/none"]->backends.empty());
  CHECK(byPath["/none"]->unresolvedBackendWeight == 1);
  CHECK(byPath["/ok"]->unresolvedBackendWeight == 0);
}

TEST_CASE("gateway api: address pool parsing") {
  auto pool = GatewayAddressPool::parse("10.0.10.5/30");
  REQUIRE(pool);
  CHECK(pool->size == 4);
  CHECK(pool->at(0) == "10.0.10.4");
  CHECK(pool->indexOf("10.0.10.7") == 3u);
  CHECK(!pool->indexOf("10.0.10.8"));
  CHECK(!pool->indexOf("not an address"));
  CHECK(GatewayAddressPool::parse("10.0.10.9")->size == 1);
  for (const char* bad : {"10.0.0.0/8", "10.0.0.0/33", "10.0.0.0/", "fd00::/120", "ten/24", "10.0.0.0/24x"}) {
    CAPTURE(bad);
    CHECK(!GatewayAddressPool::parse(bad));
  }
}

TEST_CASE("gateway api: pool addresses stay with the Gateway whose status has them; the others take the lowest free") {
  const GatewayAddressPool pool = *GatewayAddressPool::parse("10.0.10.0/30");
  auto withStatus = [&](const std::string& name, const std::string& created, const std::string& address) {
    json g = gateway("infra", name, {listener("http")});
    g["metadata"]["creationTimestamp"] = created;
    if (!address.empty()) g["status"]["addresses"] = {{{"type", "IPAddress"}, {"value", address}}};
    return g;
  };
  const std::vector<json> gateways = {
      withStatus("a", "2024-01-01T00:00:00Z", "10.0.10.2"), withStatus("b", "2024-01-02T00:00:00Z", ""),
      withStatus("c", "2024-01-03T00:00:00Z", "10.0.10.2"),  // taken by the older a
      withStatus("d", "2024-01-04T00:00:00Z", "192.168.0.1"),  // not in the pool
      withStatus("e", "2024-01-05T00:00:00Z", ""), withStatus("f", "2024-01-06T00:00:00Z", "")};
  std::vector<const json*> pointers;
  for (auto it = gateways.rbegin(); it != gateways.rend(); ++it) pointers.push_back(&*it);  // order must not matter
  const auto allocated = allocateGatewayAddresses(pointers, pool);
  CHECK(allocated.at("infra/a") == "10.0.10.2");
  CHECK(allocated.at("infra/b") == "10.0.10.0");
  CHECK(allocated.at("infra/c") == "10.0.10.1");
  CHECK(allocated.at("infra/d") == "10.0.10.3");
  CHECK(!allocated.contains("infra/e"));  // the pool is exhausted
  CHECK(!allocated.contains("infra/f"));
}

TEST_CASE("gateway api: with an address pool, a Gateway's routes answer only on its published address") {
  ObjectSnapshot s = cluster();
  RenderOptions options;
  options.gatewayAddresses = *GatewayAddressPool::parse("10.0.10.0/28");
  json l = listener("http");
  l["allowedRoutes"] = {{"namespaces", {{"from", "All"}}}};
  json other = gateway("infra", "other", {l});
  s.gateways.push_back(other);
  s.gateways[0]["status"]["addresses"] = {{{"type", "IPAddress"}, {"value", "10.0.10.1"}}};  // web: published
  s.httpRoutes = {httpRoute("shop", "both", {{"parentRefs", {parentRef("infra", "web"), parentRef("infra", "other")}},
                                             {"hostnames", {"a.example.com"}},
                                             {"rules", {{{"backendRefs", {{{"name", "store"}, {"port", 80}}}}}}}})};
  RenderResult result = render(s, options);
  REQUIRE(result.table.routes.size() == 1);
  // "other" has no address in its status yet: nothing is served for it.
  CHECK(result.table.routes[0].localAddresses == std::vector<std::string>{"10.0.10.1"});

  // Its status gets the lowest free address, Programmed False until render can see it ...
  json st = statusOf(s, Kind::Gateway, "infra", "other", true, options);
  CHECK(st["addresses"] == json::array({{{"type", "IPAddress"}, {"value", "10.0.10.0"}}}));
  const json* programmed = condition(st["conditions"], "Programmed");
  REQUIRE(programmed);
  CHECK((*programmed)["status"] == "False");
  CHECK((*programmed)["reason"] == "Pending");
  // ... then Programmed, and the route answers on both addresses.
  s.gateways[1]["status"] = st;
  st = statusOf(s, Kind::Gateway, "infra", "other", true, options);
  CHECK((*condition(st["conditions"], "Programmed"))["status"] == "True");
  result = render(s, options);
  REQUIRE(result.table.routes.size() == 1);
  CHECK(result.table.routes[0].localAddresses == std::vector<std::string>{"10.0.10.0", "10.0.10.1"});
  // Without a pool nothing is restricted.
  CHECK(render(s, RenderOptions{}).table.routes[0].localAddresses.empty());
}

TEST_CASE("gateway api: status of GatewayClass, Gateway and HTTPRoute parents with exact reasons") {
  ObjectSnapshot s = cluster();
  s.services.push_back(service("backends", "inventory"));
  s.endpointSlices.push_back(backendSlice("backends", "inventory", "10.244.0.3"));
  const json parent = {parentRef("infra", "web", "http")};
  auto route = [&](const std::string& name, json backendRefs) {
    return httpRoute("shop", name, {{"parentRefs", parent}, {"rules", {{{"backendRefs", backendRefs}}}}});
  };
  s.httpRoutes = {
      route("good", {{{"name", "store"}, {"port", 80}}}),
      route("missing", {{{"name", "nope"}, {"port", 80}}}),
      route("cross", {{{"name", "inventory"}, {"namespace", "backends"}, {"port", 80}}}),
      route("kind", {{{"group", "example.com"}, {"kind", "Bucket"}, {"name", "b"}}}),
      httpRoute("shop", "wrong-section", {{"parentRefs", {parentRef("infra", "web", "nope")}}}),
      httpRoute("shop", "theirs", {{"parentRefs", {parentRef("infra", "elsewhere")}}}),
  };
  // Another controller's entry in status.parents stays.
  const json foreign = {{"parentRef", parentRef("infra", "x")}, {"controllerName", "example.com/else"},
                        {"conditions", json::array()}};
  s.httpRoutes[0]["status"] = {{"parents", {foreign}}};

  json cls = statusOf(s, Kind::GatewayClass, "", "portico");
  REQUIRE(cls.is_object());
  CHECK((*condition(cls["conditions"], "Accepted"))["status"] == "True");
  CHECK((*condition(cls["conditions"], "Accepted"))["observedGeneration"] == 1);
  CHECK(cls["supportedFeatures"].size() == supportedGatewayFeatures().size());
  CHECK(statusOf(s, Kind::GatewayClass, "", "other").is_null());
  {
    // parametersRef: the class is refused and its Gateways are not served.
    ObjectSnapshot p = s;
    p.gatewayClasses[0]["spec"]["parametersRef"] = {{"group", ""}, {"kind", "ConfigMap"}, {"name", "x"}};
    json refused = statusOf(p, Kind::GatewayClass, "", "portico");
    CHECK((*condition(refused["conditions"], "Accepted"))["reason"] == "InvalidParameters");
    CHECK(statusOf(p, Kind::Gateway, "infra", "web").is_null());
    CHECK(render(p, RenderOptions{}).table.routes.empty());
  }

  json good = statusOf(s, Kind::HTTPRoute, "shop", "good");
  CHECK(good["parents"].size() == 2);
  CHECK(good["parents"][0] == foreign);
  CHECK(parentCondition(good, "Accepted")["status"] == "True");
  CHECK(parentCondition(good, "Accepted")["observedGeneration"] == 4);
  CHECK(parentCondition(good, "ResolvedRefs")["reason"] == "ResolvedRefs");
  CHECK(parentCondition(statusOf(s, Kind::HTTPRoute, "shop", "missing"), "ResolvedRefs")["reason"] == "BackendNotFound");
  CHECK(parentCondition(statusOf(s, Kind::HTTPRoute, "shop", "cross"), "ResolvedRefs")["reason"] == "RefNotPermitted");
  CHECK(parentCondition(statusOf(s, Kind::HTTPRoute, "shop", "kind"), "ResolvedRefs")["reason"] == "InvalidKind");
  CHECK(parentCondition(statusOf(s, Kind::HTTPRoute, "shop", "wrong-section"), "Accepted")["reason"] ==
        "NoMatchingParent");
  CHECK(statusOf(s, Kind::HTTPRoute, "shop", "theirs").is_null());

  json gw = statusOf(s, Kind::Gateway, "infra", "web");
  CHECK((*condition(gw["conditions"], "Programmed"))["status"] == "True");
  CHECK((*condition(gw["conditions"], "Accepted"))["observedGeneration"] == 2);
  CHECK(gw["addresses"] == json::array({{{"type", "IPAddress"}, {"value", "10.0.0.9"}}}));
  REQUIRE(gw["listeners"].size() == 1);
  // good, missing, cross and kind attach (a bad backend does not detach a route).
  CHECK(gw["listeners"][0]["attachedRoutes"] == 4);
  CHECK(gw["listeners"][0]["supportedKinds"] == json::array({{{"group", kGroup}, {"kind", "HTTPRoute"}}}));
  CHECK((*condition(gw["listeners"][0]["conditions"], "Programmed"))["status"] == "True");
  json pending = statusOf(s, Kind::Gateway, "infra", "web", /*published=*/false);
  CHECK((*condition(pending["conditions"], "Programmed"))["reason"] == "Pending");

  // A ReferenceGrant added: the cross-namespace backend resolves; removed: refused again.
  s.referenceGrants = {grant("backends", "HTTPRoute", "shop", "Service")};
  CHECK(parentCondition(statusOf(s, Kind::HTTPRoute, "shop", "cross"), "ResolvedRefs")["status"] == "True");
  RenderResult granted = render(s, RenderOptions{});
  bool served = false;
  for (const auto& r : granted.table.routes) served = served || (r.name == "shop/cross/rule0.match0" && !r.backends.empty());
  CHECK(served);
  s.referenceGrants.clear();
  RenderResult refused = render(s, RenderOptions{});
  for (const auto& r : refused.table.routes) {
    if (r.name == "shop/cross/rule0.match0") CHECK(r.backends.empty());
  }
}

TEST_CASE("gateway api: lastTransitionTime stays while a condition's status does not change") {
  ObjectSnapshot s = cluster();
  json first = statusOf(s, Kind::Gateway, "infra", "web");
  s.gateways[0]["status"] = first;
  s.gateways[0]["status"]["conditions"][0]["lastTransitionTime"] = "2020-01-01T00:00:00Z";
  json again = statusOf(s, Kind::Gateway, "infra", "web");
  CHECK(again["conditions"][0]["lastTransitionTime"] == "2020-01-01T00:00:00Z");
  CHECK(withoutTransitionTimes(again) == withoutTransitionTimes(first));
}

TEST_CASE("gateway api: an Ingress and an HTTPRoute on one host and path: the older wins, other paths coexist") {
  ObjectSnapshot s = cluster();
  json ingress = {{"apiVersion", "networking.k8s.io/v1"}, {"kind", "Ingress"},
                  {"metadata", {{"namespace", "shop"}, {"name", "legacy"}, {"creationTimestamp", "2023-01-01T00:00:00Z"}}},
                  {"spec", {{"ingressClassName", "portico"},
                            {"rules", {{{"host", "a.example.com"},
                                        {"http", {{"paths", {{{"path", "/cart"}, {"pathType", "Prefix"},
                                                              {"backend", {{"service", {{"name", "store"}, {"port", {{"number", 80}}}}}}}}}}}}}}}}}};
  s.ingresses = {ingress};
  auto prefix = [](const std::string& p) { return json{{"path", {{"type", "PathPrefix"}, {"value", p}}}}; };
  s.httpRoutes = {httpRoute("shop", "new",
                            {{"parentRefs", {parentRef("infra", "web")}}, {"hostnames", {"a.example.com"}},
                             {"rules", {{{"matches", {prefix("/cart"), prefix("/api")}},
                                         {"backendRefs", {{{"name", "next"}, {"port", 80}}}}}}}},
                            "2024-01-01T00:00:00Z")};
  RenderResult r = render(s, RenderOptions{});
  std::vector<std::string> names;
  for (const auto& route : r.table.routes) names.push_back(route.name);
  CHECK(names == std::vector<std::string>{"shop/legacy/rule0-path0", "shop/new/rule0.match1"});
  REQUIRE(r.diagnostics.size() == 1);
  CHECK(r.diagnostics[0].object.kind == "HTTPRoute");
  CHECK(r.diagnostics[0].reason == "Conflict");
  // Made older than the Ingress, the HTTPRoute wins the path instead.
  s.httpRoutes[0]["metadata"]["creationTimestamp"] = "2022-01-01T00:00:00Z";
  r = render(s, RenderOptions{});
  names.clear();
  for (const auto& route : r.table.routes) names.push_back(route.name);
  CHECK(names == std::vector<std::string>{"shop/new/rule0.match0", "shop/new/rule0.match1"});
  REQUIRE(r.diagnostics.size() == 1);
  CHECK(r.diagnostics[0].object.kind == "Ingress");
}

}  // TEST_SUITE
