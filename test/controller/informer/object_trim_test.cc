// trimObject (controller/objects/object_trim.h): what the store keeps of a watched object.
#include <filesystem>

#include <doctest/doctest.h>

#include "controller/informer/object_store.h"
#include "controller/objects/object_trim.h"
#include "controller/render/render.h"
#include "controller/render/spec_json.h"
#include "test/controller/test_support.h"

using namespace portico::controller;
using namespace portico::controller::test;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

const char* kLastApplied = "kubectl.kubernetes.io/last-applied-configuration";

json managedFields() {
  return json::array({{{"manager", "kubectl-client-side-apply"},
                       {"operation", "Update"},
                       {"apiVersion", "v1"},
                       {"time", "2024-05-01T10:00:00Z"},
                       {"fieldsType", "FieldsV1"},
                       {"fieldsV1", {{"f:metadata", {{"f:annotations", json::object()}}}, {"f:spec", json::object()}}}}});
}

// What the apiserver adds around an object (kubectl apply, controllers, the garbage
// collector): nothing of it is read by the controller.
void addNoise(Kind kind, json& object) {
  json& meta = object["metadata"];
  meta["managedFields"] = managedFields();
  meta["annotations"][kLastApplied] = json(object).dump();
  meta["annotations"]["deployment.kubernetes.io/revision"] = "3";
  // A Namespace's labels are what render reads (allowedRoutes selectors): all of them stay.
  if (kind != Kind::Namespace) meta["labels"]["app.kubernetes.io/name"] = "shop";
  meta["ownerReferences"] = json::array({{{"apiVersion", "v1"}, {"kind", "Service"}, {"name", "x"}, {"uid", "u"}}});
  meta["finalizers"] = json::array({"example.com/cleanup"});
  meta["selfLink"] = "/apis/x";
  if (kind == Kind::Service) {
    object["spec"]["clusterIP"] = "10.96.0.12";
    object["spec"]["clusterIPs"] = json::array({"10.96.0.12"});
    object["spec"]["selector"] = {{"app", "orders"}};
    object["spec"]["sessionAffinity"] = "None";
    object["status"] = {{"loadBalancer", json::object()}};
  }
  if (kind == Kind::EndpointSlice && object.contains("endpoints")) {
    for (auto& ep : object["endpoints"]) {
      ep["nodeName"] = "node-1";
      ep["zone"] = "eu-1a";
      ep["targetRef"] = {{"kind", "Pod"}, {"namespace", "shop"}, {"name", "orders-7f9c"}, {"uid", "9d1c"}};
    }
  }
  if (kind == Kind::Secret) object["immutable"] = false;
}

// `object` as the store keeps it after the apiserver wrapped it in noise.
json noisyAndTrimmed(Kind kind, json object) {
  addNoise(kind, object);
  trimObject(kind, object);
  return object;
}


// Applies `change` to every object of the snapshot, kind by kind.
template <class Change>
ObjectSnapshot transformed(ObjectSnapshot s, Change change) {
  ObjectSnapshot::forEachList(s, [&](Kind kind, std::vector<json>& objects) {
    for (auto& o : objects) change(kind, o);
  });
  return s;
}

std::string rendered(const ObjectSnapshot& snapshot, const RenderOptions& options) {
  auto result = render(snapshot, options);
  nlohmann::ordered_json out;
  out["table"] = toJson(result.table);
  out["diagnostics"] = toJson(result.diagnostics);
  return out.dump(2);
}

}  // namespace

TEST_SUITE("informer") {
  TEST_CASE("trimObject: an Ingress keeps spec, status, identity and Portico's annotations, and loses the rest") {
    json ingress = {
        {"apiVersion", "networking.k8s.io/v1"},
        {"kind", "Ingress"},
        {"metadata",
         {{"name", "web"},
          {"namespace", "shop"},
          {"uid", "5b0e3c1a-0000-4000-8000-000000000001"},
          {"resourceVersion", "4711"},
          {"generation", 3},
          {"creationTimestamp", "2024-05-01T10:00:00Z"},
          {"annotations",
           {{"portico.dev/rewrite-target", "/"},
            {"portico.dev/auth-type", "basic"},
            {"kubernetes.io/ingress.class", "portico"},
            {"nginx.ingress.kubernetes.io/rewrite-target", "/"}}}}},
        {"spec", {{"ingressClassName", "portico"}, {"rules", json::array({{{"host", "a.example.com"}}})}}},
        {"status", {{"loadBalancer", {{"ingress", json::array({{{"ip", "192.0.2.1"}}})}}}}}};
    json expected = ingress;
    expected["metadata"]["annotations"].erase("nginx.ingress.kubernetes.io/rewrite-target");
    ingress = noisyAndTrimmed(Kind::Ingress, ingress);
    CHECK(ingress == expected);
    CHECK_FALSE(ingress["metadata"].contains("managedFields"));
    CHECK_FALSE(ingress["metadata"]["annotations"].contains(kLastApplied));
    CHECK_FALSE(ingress["metadata"].contains("labels"));
  }

  TEST_CASE("trimObject: an APIRoute keeps spec (unknown fields included, render reports them) and status") {
    json route = {{"apiVersion", "portico.dev/v1alpha1"},
                  {"kind", "APIRoute"},
                  {"metadata", {{"name", "orders"}, {"namespace", "shop"}, {"generation", 7}, {"uid", "u1"}}},
                  {"spec", {{"hosts", json::array({"api.example.com"})}, {"bogus", 1}}},
                  {"status", {{"conditions", json::array({{{"type", "Accepted"}, {"observedGeneration", 6}}})}}}};
    CHECK(noisyAndTrimmed(Kind::APIRoute, route) == route);
  }

  TEST_CASE("trimObject: a Service keeps spec.type and spec.ports only") {
    json svc = {{"apiVersion", "v1"},
                {"kind", "Service"},
                {"metadata", {{"name", "orders"}, {"namespace", "shop"}}},
                {"spec",
                 {{"type", "ClusterIP"},
                  {"ports", json::array({{{"name", "http"}, {"port", 80}, {"targetPort", 8080}, {"protocol", "TCP"}}})}}}};
    CHECK(noisyAndTrimmed(Kind::Service, svc) == svc);
  }

  TEST_CASE("trimObject: an EndpointSlice keeps its Service label, ports, addresses and conditions") {
    json slice = {{"apiVersion", "discovery.k8s.io/v1"},
                  {"kind", "EndpointSlice"},
                  {"metadata",
                   {{"name", "orders-abc"},
                    {"namespace", "shop"},
                    {"labels",
                     {{"kubernetes.io/service-name", "orders"},
                      {"endpointslice.kubernetes.io/managed-by", "endpointslice-controller.k8s.io"}}}}},
                  {"addressType", "IPv4"},
                  {"ports", json::array({{{"name", "http"}, {"port", 8080}, {"protocol", "TCP"}}})},
                  {"endpoints",
                   json::array({{{"addresses", json::array({"10.0.1.7"})},
                                 {"conditions", {{"ready", true}, {"serving", true}, {"terminating", false}}}}})}};
    json wanted = slice;
    wanted["metadata"]["labels"].erase("endpointslice.kubernetes.io/managed-by");
    slice = noisyAndTrimmed(Kind::EndpointSlice, slice);
    CHECK(slice == wanted);
    CHECK(sliceServiceKey(slice) == "shop/orders");
  }

  TEST_CASE("trimObject: a Secret keeps type and data, an IngressClass its spec and default-class annotation") {
    json secret = {{"apiVersion", "v1"},
                   {"kind", "Secret"},
                   {"metadata", {{"name", "tls"}, {"namespace", "shop"}}},
                   {"type", "kubernetes.io/tls"},
                   {"data", {{"tls.crt", "Y3J0"}, {"tls.key", "a2V5"}}}};
    CHECK(noisyAndTrimmed(Kind::Secret, secret) == secret);

    json cls = {{"apiVersion", "networking.k8s.io/v1"},
                {"kind", "IngressClass"},
                {"metadata",
                 {{"name", "portico"}, {"annotations", {{"ingressclass.kubernetes.io/is-default-class", "true"}}}}},
                {"spec", {{"controller", "portico.dev/ingress-controller"}}}};
    CHECK(noisyAndTrimmed(Kind::IngressClass, cls) == cls);
  }

  TEST_CASE("trimObject: Gateway API objects keep spec and status, a ReferenceGrant its spec, a Namespace its labels") {
    for (Kind kind : {Kind::GatewayClass, Kind::Gateway, Kind::HTTPRoute}) {
      json o = {{"apiVersion", "gateway.networking.k8s.io/v1"}, {"kind", kindName(kind)},
                {"metadata", {{"namespace", "shop"}, {"name", "x"}, {"generation", 3}}},
                {"spec", {{"anything", 1}}}, {"status", {{"parents", json::array()}}}};
      CHECK(noisyAndTrimmed(kind, o) == o);
    }
    json grant = {{"metadata", {{"namespace", "shop"}, {"name", "g"}}}, {"spec", {{"from", json::array()}}}};
    json noisyGrant = grant;
    noisyGrant["status"] = {{"x", 1}};
    CHECK(noisyAndTrimmed(Kind::ReferenceGrant, noisyGrant) == grant);
    json ns = {{"metadata", {{"name", "shop"}, {"labels", {{"team", "shop"}, {"kubernetes.io/metadata.name", "shop"}}}}},
               {"spec", {{"finalizers", {"kubernetes"}}}}};
    json trimmed = noisyAndTrimmed(Kind::Namespace, ns);
    CHECK(trimmed["metadata"]["labels"] == ns["metadata"]["labels"]);
    CHECK_FALSE(trimmed.contains("spec"));
    CHECK_FALSE(trimmed["metadata"].contains("annotations"));
  }

  TEST_CASE("trimObject is idempotent and leaves non-objects alone") {
    json ingress = {{"metadata", {{"name", "a"}, {"namespace", "b"}}}, {"spec", json::object()}};
    addNoise(Kind::Ingress, ingress);
    trimObject(Kind::Ingress, ingress);
    const json once = ingress;
    trimObject(Kind::Ingress, ingress);
    CHECK(ingress == once);
    CHECK_FALSE(ingress["metadata"].contains("annotations"));  // nothing of it was kept
    json notAnObject = json::array({1, 2});
    trimObject(Kind::Service, notAnObject);
    CHECK(notAnObject == json::array({1, 2}));
  }

  TEST_CASE("trimObject: every golden render case renders the same with the apiserver's extra fields trimmed away") {
    int cases = 0;
    for (const auto& entry : fs::directory_iterator(testdataPath("render"))) {
      if (!fs::exists(entry.path() / "input.json")) continue;
      ++cases;
      CAPTURE(entry.path().filename().string());
      const RenderCase c = loadRenderCase(entry.path());
      const ObjectSnapshot& plain = c.objects;
      const RenderOptions& options = c.options;

      const std::string expected = rendered(plain, options);
      // Trimming what render is given changes nothing...
      CHECK(rendered(transformed(plain, trimObject), options) == expected);
      // ...and neither does trimming objects as the apiserver serves them, noise included.
      const ObjectSnapshot noisy = transformed(plain, addNoise);
      const ObjectSnapshot trimmed = transformed(noisy, trimObject);
      CHECK(rendered(trimmed, options) == expected);
      // What was added is all gone: trimmed noisy objects equal trimmed plain ones.
      const ObjectSnapshot plainTrimmed = transformed(plain, trimObject);
      CHECK(trimmed.ingresses == plainTrimmed.ingresses);
      CHECK(trimmed.apiRoutes == plainTrimmed.apiRoutes);
      CHECK(trimmed.services == plainTrimmed.services);
      CHECK(trimmed.endpointSlices == plainTrimmed.endpointSlices);
      CHECK(trimmed.secrets == plainTrimmed.secrets);
      CHECK(trimmed.ingressClasses == plainTrimmed.ingressClasses);
    }
    CHECK(cases >= 2);
  }

  TEST_CASE("the store trims: a change of fields nothing reads is not stored and asks for no render") {
    ObjectStore store;
    json slice = {{"metadata",
                   {{"name", "orders-abc"}, {"namespace", "shop"}, {"labels", {{"kubernetes.io/service-name", "orders"}}}}},
                  {"endpoints", json::array({{{"addresses", json::array({"10.0.1.7"})}}})}};
    addNoise(Kind::EndpointSlice, slice);
    store.replace(Kind::EndpointSlice, "", {slice});
    const uint64_t before = store.generation();
    slice["endpoints"][0]["targetRef"]["name"] = "orders-new-pod";
    slice["metadata"]["managedFields"][0]["time"] = "2024-05-02T10:00:00Z";
    store.upsert(Kind::EndpointSlice, slice);
    CHECK(store.generation() == before);
    const auto snap = store.snapshot();
    const json* stored = snap.find(Kind::EndpointSlice, "shop/orders-abc");
    REQUIRE(stored != nullptr);
    CHECK_FALSE((*stored)["metadata"].contains("managedFields"));
    CHECK_FALSE((*stored)["endpoints"][0].contains("targetRef"));
    REQUIRE(snap.slicesByService().count("shop/orders") == 1);
    CHECK(snap.slicesByService().at("shop/orders").size() == 1);
  }
}
