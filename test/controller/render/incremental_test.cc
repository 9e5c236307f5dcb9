// IncrementalRenderer against the full render: randomized edit sequences (adds, edits and
// deletes of every kind render reads, with host conflicts, class changes and invalid
// objects) through a real ObjectStore; after every step the incremental result must equal the
// full render byte for byte (table JSON with keys, diagnostics, owned Ingresses).
#include <chrono>
#include <random>

#include <doctest/doctest.h>

#include "controller/informer/object_store.h"
#include "controller/render/incremental.h"
#include "controller/render/render.h"
#include "controller/render/spec_json.h"
#include "test/controller/test_support.h"

using nlohmann::json;
using namespace portico::controller;
using namespace portico::controller::test;

namespace {

class Generator {
 public:
  explicit Generator(uint32_t seed, bool gatewayApi = false) : rng_(seed), gatewayApi_(gatewayApi) {}

  int pick(int n) { return std::uniform_int_distribution<int>(0, n - 1)(rng_); }
  bool chance(int percent) { return pick(100) < percent; }
  template <class T>
  const T& oneOf(const std::vector<T>& v) { return v[static_cast<size_t>(pick(static_cast<int>(v.size())))]; }

  std::string ns() { return oneOf<std::string>({"a", "b"}); }
  std::string host() { return oneOf<std::string>({"x.example.com", "y.example.com", "*.example.org", ""}); }
  std::string path() { return oneOf<std::string>({"/", "/a", "/a/", "/b", "/b/c"}); }
  json meta(const std::string& ns, const std::string& name) {
    json m = {{"namespace", ns}, {"name", name}, {"resourceVersion", std::to_string(++version_)}};
    // Few distinct timestamps: ties fall back to namespace/name.
    const std::string created = oneOf<std::string>({"", "2024-01-01T00:00:00Z", "2024-02-01T00:00:00Z"});
    if (!created.empty()) m["creationTimestamp"] = created;
    return m;
  }
  json className() {
    switch (pick(6)) {
      case 0: return "other";
      case 1: return "cls-x";
      case 2: return 42;  // invalid type
      case 3: return nullptr;
      default: return "portico";
    }
  }

  json ingress() {
    const std::string ns = this->ns();
    json spec = json::object();
    if (json cls = className(); !cls.is_null()) spec["ingressClassName"] = cls;
    json rules = json::array();
    for (int r = pick(3); r > 0; --r) {
      json paths = json::array();
      for (int p = 1 + pick(2); p > 0; --p) {
        json port = chance(70) ? json{{"number", chance(85) ? 80 : 81}} : json{{"name", "http"}};
        paths.push_back({{"path", path()},
                         {"pathType", oneOf<std::string>({"Prefix", "Exact", "ImplementationSpecific"})},
                         {"backend", {{"service", {{"name", "svc" + std::to_string(pick(3))}, {"port", port}}}}}});
      }
      json rule = {{"http", {{"paths", paths}}}};
      if (std::string h = host(); !h.empty()) rule["host"] = h;
      rules.push_back(rule);
    }
    if (!rules.empty()) spec["rules"] = rules;
    if (chance(20) || rules.empty()) {
      spec["defaultBackend"] = {{"service", {{"name", "svc" + std::to_string(pick(3))}, {"port", {{"number", 80}}}}}};
    }
    if (chance(30)) spec["tls"] = {{{"hosts", {"x.example.com"}}, {"secretName", oneOf<std::string>({"tls0", "tls1", "gone"})}}};
    if (chance(5)) spec["rules"] = "not a list";
    json annotations = json::object();
    if (chance(20)) annotations["portico.dev/ssl-redirect"] = "true";
    if (chance(15)) {
      annotations["portico.dev/auth-type"] = "api-key";
      annotations["portico.dev/auth-secret"] = oneOf<std::string>({"keys0", "gone"});
    }
    if (chance(5)) annotations["portico.dev/bogus"] = "1";
    if (chance(5)) annotations["portico.dev/retries"] = "99";
    json m = meta(ns, "ing" + std::to_string(pick(8)));
    if (!annotations.empty()) m["annotations"] = annotations;
    json o = {{"apiVersion", "networking.k8s.io/v1"}, {"kind", "Ingress"}, {"metadata", m}};
    if (!chance(3)) o["spec"] = spec;
    return o;
  }

  json apiRoute() {
    json spec = json::object();
    if (chance(40)) {
      if (json cls = className(); !cls.is_null()) spec["ingressClassName"] = cls;
    }
    json hosts = json::array();
    for (int h = pick(3); h > 0; --h) {
      if (std::string name = host(); !name.empty()) hosts.push_back(name);
    }
    if (!hosts.empty()) spec["hosts"] = hosts;
    json rules = json::array();
    for (int r = 1 + pick(2); r > 0; --r) {
      const std::string type = oneOf<std::string>({"Prefix", "Prefix", "Exact", "RegularExpression"});
      json rule = {{"name", oneOf<std::string>({"read", "write", "read"})},
                   {"match", {{"path", {{"type", type}, {"value", type == "RegularExpression" ? "/r[0-9]+" : path()}}}}},
                   {"backends", {{{"service", "svc" + std::to_string(pick(3))}, {"port", chance(70) ? json(80) : json("http")}}}}};
      if (chance(15)) rule["auth"] = {{"apiKey", {{"secretName", oneOf<std::string>({"keys0", "gone"})}}}};
      if (chance(5)) rule["bogus"] = true;
      rules.push_back(rule);
    }
    spec["rules"] = rules;
    if (chance(20)) spec["tls"] = {{"secretName", oneOf<std::string>({"tls0", "tls1", "gone"})}};
    if (chance(5)) spec["unknown"] = 1;
    return {{"apiVersion", "portico.dev/v1alpha1"}, {"kind", "APIRoute"},
            {"metadata", meta(ns(), "r" + std::to_string(pick(6)))}, {"spec", spec}};
  }

  json service() {
    json ports = json::array({{{"name", "http"}, {"port", 80}, {"targetPort", 8080}}});
    if (chance(30)) ports = json::array({{{"name", "grpc"}, {"port", 81}, {"targetPort", 9090}}});
    return {{"apiVersion", "v1"}, {"kind", "Service"}, {"metadata", meta(ns(), "svc" + std::to_string(pick(3)))},
            {"spec", {{"ports", ports}}}};
  }

  json endpointSlice() {
    json endpoints = json::array();
    for (int e = pick(3); e > 0; --e) {
      endpoints.push_back({{"addresses", {"10.0.0." + std::to_string(1 + pick(5))}},
                           {"conditions", {{"ready", chance(80)}}}});
    }
    json s = slice(ns(), "slice" + std::to_string(pick(4)), "svc" + std::to_string(pick(3)),
                   json::array({{{"name", "http"}, {"port", 8080}}}), endpoints);
    s["metadata"]["resourceVersion"] = std::to_string(++version_);
    return s;
  }

  json secret() {
    const std::string ns = this->ns();
    json s;
    switch (pick(4)) {
      case 0: s = tlsSecret(ns, "tls0", certA(), keyA()); break;
      case 1: s = tlsSecret(ns, "tls1", chance(80) ? certB() : "garbage", keyB()); break;
      case 2: s = opaqueSecret(ns, "keys0", {{"alice", "k" + std::to_string(pick(3))}}); break;
      default: s = opaqueSecret(ns, "tls0", {{"x", "not tls"}}); break;
    }
    s["metadata"]["resourceVersion"] = std::to_string(++version_);
    return s;
  }

  json ingressClass() {
    json m = {{"name", oneOf<std::string>({"portico", "cls-x"})}, {"resourceVersion", std::to_string(++version_)}};
    if (chance(40)) m["annotations"] = {{"ingressclass.kubernetes.io/is-default-class", "true"}};
    return {{"apiVersion", "networking.k8s.io/v1"}, {"kind", "IngressClass"}, {"metadata", m},
            {"spec", {{"controller", chance(75) ? "portico.dev/ingress-controller" : "example.com/other"}}}};
  }

  // Gateway API: classes ours or not, Gateways with HTTP/HTTPS/unsupported listeners and
  // every allowedRoutes shape, HTTPRoutes across namespaces, grants and namespace labels.
  json gatewayClass() {
    json m = {{"name", oneOf<std::string>({"gc0", "gc1"})}, {"resourceVersion", std::to_string(++version_)}};
    return {{"apiVersion", "gateway.networking.k8s.io/v1"}, {"kind", "GatewayClass"}, {"metadata", m},
            {"spec", {{"controllerName", chance(75) ? "portico.dev/gateway-controller" : "example.com/other"}}}};
  }

  json gateway() {
    json listeners = json::array();
    for (int i = 1 + pick(2); i > 0; --i) {
      const std::string protocol = oneOf<std::string>({"HTTP", "HTTP", "HTTPS", "TCP"});
      json l = {{"name", "l" + std::to_string(pick(2))}, {"protocol", protocol}, {"port", protocol == "HTTPS" ? 443 : 80}};
      if (std::string h = host(); !h.empty()) l["hostname"] = h;
      switch (pick(4)) {
        case 0: l["allowedRoutes"] = {{"namespaces", {{"from", "All"}}}}; break;
        case 1: l["allowedRoutes"] = {{"namespaces", {{"from", "Selector"}, {"selector", {{"matchLabels", {{"team", "a"}}}}}}}}; break;
        case 2: l["allowedRoutes"] = {{"kinds", {{{"kind", chance(50) ? "HTTPRoute" : "GRPCRoute"}}}}}; break;
        default: break;
      }
      if (protocol == "HTTPS") {
        json ref = {{"name", oneOf<std::string>({"tls0", "tls1", "gone"})}};
        if (chance(30)) ref["namespace"] = ns();
        l["tls"] = {{"certificateRefs", {ref}}};
      }
      listeners.push_back(l);
    }
    return {{"apiVersion", "gateway.networking.k8s.io/v1"}, {"kind", "Gateway"},
            {"metadata", meta(ns(), "gw" + std::to_string(pick(2)))},
            {"spec", {{"gatewayClassName", oneOf<std::string>({"gc0", "gc1"})}, {"listeners", listeners}}}};
  }

  json httpRoute() {
    json parent = {{"name", "gw" + std::to_string(pick(2))}};
    if (chance(40)) parent["namespace"] = ns();
    if (chance(20)) parent["sectionName"] = "l" + std::to_string(pick(2));
    json spec = {{"parentRefs", {parent}}};
    json hostnames = json::array();
    for (int h = pick(3); h > 0; --h) {
      if (std::string name = host(); !name.empty()) hostnames.push_back(name);
    }
    if (!hostnames.empty()) spec["hostnames"] = hostnames;
    json rules = json::array();
    for (int r = 1 + pick(2); r > 0; --r) {
      json match = {{"path", {{"type", oneOf<std::string>({"PathPrefix", "PathPrefix", "Exact"})}, {"value", path()}}}};
      if (chance(30)) match["headers"] = {{{"name", "x-canary"}, {"value", "yes"}}};
      json backend = {{"name", "svc" + std::to_string(pick(3))}, {"port", 80}};
      if (chance(25)) backend["namespace"] = ns();
      if (chance(15)) backend["weight"] = 0;
      json rule = {{"matches", {match}}, {"backendRefs", {backend}}};
      if (chance(15)) rule["filters"] = {{{"type", "RequestHeaderModifier"}, {"requestHeaderModifier", {{"set", {{{"name", "x-a"}, {"value", "1"}}}}}}}};
      if (chance(5)) rule["filters"] = {{{"type", "RequestMirror"}, {"requestMirror", {{"backendRef", backend}}}}};
      rules.push_back(rule);
    }
    spec["rules"] = rules;
    return {{"apiVersion", "gateway.networking.k8s.io/v1"}, {"kind", "HTTPRoute"},
            {"metadata", meta(ns(), "hr" + std::to_string(pick(6)))}, {"spec", spec}};
  }

  json referenceGrant() {
    const std::string kind = oneOf<std::string>({"HTTPRoute", "Gateway"});
    return {{"apiVersion", "gateway.networking.k8s.io/v1"}, {"kind", "ReferenceGrant"},
            {"metadata", meta(ns(), "rg" + std::to_string(pick(2)))},
            {"spec", {{"from", {{{"group", "gateway.networking.k8s.io"}, {"kind", kind}, {"namespace", ns()}}}},
                      {"to", {{{"group", ""}, {"kind", kind == "HTTPRoute" ? "Service" : "Secret"}}}}}}};
  }

  json namespaceObject() {
    json m = {{"name", ns()}, {"resourceVersion", std::to_string(++version_)}};
    if (chance(50)) m["labels"] = {{"team", "a"}};
    return {{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", m}};
  }

  std::pair<Kind, json> object() {
    if (gatewayApi_ && chance(40)) {
      switch (pick(6)) {
        case 0: return {Kind::GatewayClass, gatewayClass()};
        case 1: return {Kind::Gateway, gateway()};
        case 2: case 3: return {Kind::HTTPRoute, httpRoute()};
        case 4: return {Kind::ReferenceGrant, referenceGrant()};
        default: return {Kind::Namespace, namespaceObject()};
      }
    }
    switch (pick(10)) {
      case 0: case 1: case 2: return {Kind::Ingress, ingress()};
      case 3: case 4: return {Kind::APIRoute, apiRoute()};
      case 5: return {Kind::Service, service()};
      case 6: return {Kind::EndpointSlice, endpointSlice()};
      case 7: case 8: return {Kind::Secret, secret()};
      default: return {Kind::IngressClass, ingressClass()};
    }
  }

 private:
  std::mt19937 rng_;
  bool gatewayApi_ = false;
  uint64_t version_ = 0;
};

std::string ownedNames(const RenderReport& r) {
  std::string out;
  for (const auto& ref : r.ownedIngresses) out += ref.toString() + ";";
  out += " routed:";
  for (const auto& ref : r.routedAPIRoutes) out += ref.toString() + ";";
  return out;
}

// Applies one random change to the store: mostly upserts (new or edited objects), some
// deletes, now and then a relist of a whole kind.
void randomChange(Generator& gen, ObjectStore& store) {
  auto [kind, object] = gen.object();
  if (gen.chance(20)) {
    store.remove(kind, object);  // by namespace/name: deletes whatever has that key
  } else if (gen.chance(5)) {
    std::vector<json> items;
    for (const auto& [key, o] : store.snapshot().objects(kind)) {
      if (!gen.chance(30)) items.push_back(*o);
    }
    items.push_back(object);
    store.replace(kind, "", std::move(items));
  } else {
    store.upsert(kind, std::move(object));
  }
}

}  // namespace

TEST_SUITE("render") {
  TEST_CASE("incremental render equals the full render after every step of random edit sequences") {
    RenderOptions options;
    // Seeds 13-24 mix in the Gateway API kinds.
    for (uint32_t seed = 1; seed <= 24; ++seed) {
      Generator gen(seed, /*gatewayApi=*/seed > 12);
      ObjectStore store;
      IncrementalRenderer incremental(options);
      for (int step = 0; step < 120; ++step) {
        for (int k = 1 + gen.pick(3); k > 0; --k) randomChange(gen, store);
        const StoreSnapshot snap = store.snapshot();
        const SharedRenderResult& inc = incremental.render(snap);
        const RenderResult full = render(snap, options);
        CAPTURE(seed);
        CAPTURE(step);
        REQUIRE(toJson(inc.table, true).dump() == toJson(full.table, true).dump());
        REQUIRE(toJson(inc.diagnostics).dump() == toJson(full.diagnostics).dump());
        REQUIRE(ownedNames(inc) == ownedNames(full));
        // The full render over plain lists (tests, file source) agrees with the store path.
        const RenderResult lists = render(snap.toLists(), options);
        REQUIRE(toJson(lists.table, true).dump() == toJson(full.table, true).dump());
        REQUIRE(toJson(lists.diagnostics).dump() == toJson(full.diagnostics).dump());
      }
    }
  }

  // Times are printed, not asserted (a unit test on a busy machine is no benchmark).
  TEST_CASE("incremental render at 10,000 Ingresses: the first render, then one edit") {
    RenderOptions options;
    ObjectStore store;
    store.upsert(Kind::Service, {{"metadata", {{"namespace", "a"}, {"name", "svc"}}},
                                 {"spec", {{"ports", {{{"name", "http"}, {"port", 80}, {"targetPort", 8080}}}}}}});
    auto ingress = [](int i, const std::string& path) {
      return json{{"metadata", {{"namespace", "a"}, {"name", "ing" + std::to_string(i)}}},
                  {"spec", {{"ingressClassName", "portico"},
                            {"rules", {{{"host", "h" + std::to_string(i) + ".example.com"},
                                        {"http", {{"paths", {{{"path", path}, {"pathType", "Prefix"},
                                                              {"backend", {{"service", {{"name", "svc"}, {"port", {{"number", 80}}}}}}}}}}}}}}}}}};
    };
    std::vector<json> items;
    for (int i = 0; i < 10000; ++i) items.push_back(ingress(i, "/p"));
    store.replace(Kind::Ingress, "", std::move(items));
    IncrementalRenderer r(options);
    using Clock = std::chrono::steady_clock;
    auto ms = [](Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); };
    auto t0 = Clock::now();
    const std::vector<portico::proxy::RouteSpecConstSharedPtr> before = r.render(store.snapshot()).table.routes;
    auto t1 = Clock::now();
    const RenderResult full = render(store.snapshot(), options);
    auto t2 = Clock::now();
    store.upsert(Kind::Ingress, ingress(42, "/edited"));
    auto t3 = Clock::now();
    const SharedRenderResult& edited = r.render(store.snapshot());
    auto t4 = Clock::now();
    MESSAGE("10,000 Ingresses: first incremental render " << ms(t1 - t0) << " ms, full render " << ms(t2 - t1)
                                                          << " ms; one edit: store " << ms(t3 - t2) << " ms, render "
                                                          << ms(t4 - t3) << " ms");
    CHECK(full.table.routes.size() == 10000);
    CHECK(r.lastStats().rendered == 1);
    REQUIRE(edited.table.routes.size() == 10000);
    // Every other route is the very object of the previous render (RouteTable::build then
    // recognises it by address); the edited one is new.
    size_t same = 0, edits = 0;
    for (size_t i = 0; i < before.size(); ++i) {
      same += before[i] == edited.table.routes[i] ? 1 : 0;
      edits += edited.table.routes[i]->path == "/edited" ? 1 : 0;
    }
    CHECK(same == 9999);
    CHECK(edits == 1);
  }

  TEST_CASE("incremental render re-renders the changed object and the objects that use a changed one") {
    RenderOptions options;
    ObjectStore store;
    auto ingress = [](const std::string& name, const std::string& svc, const std::string& secret = "") {
      json spec = {{"ingressClassName", "portico"},
                   {"rules", {{{"host", name + ".example.com"},
                               {"http", {{"paths", {{{"path", "/"}, {"pathType", "Prefix"},
                                                     {"backend", {{"service", {{"name", svc}, {"port", {{"number", 80}}}}}}}}}}}}}}}};
      if (!secret.empty()) spec["tls"] = {{{"hosts", {name + ".example.com"}}, {"secretName", secret}}};
      return json{{"metadata", {{"namespace", "a"}, {"name", name}}}, {"spec", spec}};
    };
    for (int i = 0; i < 20; ++i) store.upsert(Kind::Ingress, ingress("i" + std::to_string(i), "svc" + std::to_string(i % 2)));
    store.upsert(Kind::Ingress, ingress("tls", "svc0", "cert"));
    IncrementalRenderer r(options);
    r.render(store.snapshot());
    CHECK(r.lastStats().everything);
    CHECK(r.lastStats().rendered == 21);

    store.upsert(Kind::Ingress, ingress("i3", "svc0"));
    r.render(store.snapshot());
    CHECK_FALSE(r.lastStats().everything);
    CHECK(r.lastStats().rendered == 1);
    CHECK(r.lastStats().settled == 1);

    // A Service (or one of its EndpointSlices) re-renders the Ingresses that use it, found or not.
    store.upsert(Kind::Service, {{"metadata", {{"namespace", "a"}, {"name", "svc1"}}},
                                 {"spec", {{"ports", {{{"port", 80}, {"targetPort", 8080}}}}}}});
    r.render(store.snapshot());
    CHECK(r.lastStats().rendered == 9);  // i1, i5, ..., i19 (i3 moved to svc0)
    store.upsert(Kind::EndpointSlice, slice("a", "svc1-x", "svc1", json::array({{{"port", 8080}}}),
                                            json::array({{{"addresses", {"10.0.0.1"}}}})));
    r.render(store.snapshot());
    CHECK(r.lastStats().rendered == 9);

    // A Secret re-renders the objects that reference it.
    store.upsert(Kind::Secret, tlsSecret("a", "cert", certA(), keyA()));
    const SharedRenderResult& result = r.render(store.snapshot());
    CHECK(r.lastStats().rendered == 1);
    CHECK(result.table.certificates.size() == 1);
    CHECK(toJson(result.table, true).dump() == toJson(render(store.snapshot(), options).table, true).dump());

    // A snapshot with nothing new renders nothing.
    r.render(store.snapshot());
    CHECK(r.lastStats().rendered == 0);
    CHECK(r.lastStats().settled == 0);
  }
}
