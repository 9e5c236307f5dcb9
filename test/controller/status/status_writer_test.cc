#include "controller/status/status_writer.h"

#include <doctest/doctest.h>

#include <atomic>
#include <mutex>

#include "controller/informer/object_store.h"
#include "test/controller/status/fake_kube_client.h"

namespace portico::controller::test {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;

const std::string kT0 = "2024-05-01T10:00:00Z";
const std::string kT1 = "2024-05-01T11:00:00Z";

json route(const std::string& ns, const std::string& name, int generation = 1, const std::string& rv = "10",
           json conditions = nullptr, const std::string& cls = "") {
  json o = {{"apiVersion", "portico.dev/v1alpha1"},
            {"kind", "APIRoute"},
            {"metadata",
             {{"namespace", ns},
              {"name", name},
              {"uid", "uid-" + name},
              {"generation", generation},
              {"resourceVersion", rv}}},
            {"spec", {{"rules", json::array()}}}};
  if (!cls.empty()) o["spec"]["ingressClassName"] = cls;
  if (!conditions.is_null()) o["status"] = {{"conditions", conditions}};
  return o;
}

json ingress(const std::string& ns, const std::string& name, json lb = json::array(), const std::string& rv = "20") {
  json o = {{"metadata", {{"namespace", ns}, {"name", name}, {"uid", "uid-ing-" + name}, {"resourceVersion", rv}}},
            {"spec", json::object()}};
  if (!lb.empty()) o["status"] = {{"loadBalancer", {{"ingress", lb}}}};
  return o;
}

Diagnostic diag(const std::string& name, const std::string& condition, const std::string& reason,
                const std::string& message, const std::string& kind = "APIRoute") {
  return Diagnostic{{kind, "shop", name}, "spec", condition, reason, message};
}

const json* condition(const json& conditions, const std::string& type) {
  for (const auto& c : conditions) {
    if (c["type"] == type) return &c;
  }
  return nullptr;
}

StatusWriterOptions fixedClock(std::string* now) {
  StatusWriterOptions o;
  o.now = [now] { return *parseKubeTime(*now); };
  return o;
}

std::vector<const Diagnostic*> pointers(const std::vector<Diagnostic>& ds) {
  std::vector<const Diagnostic*> out;
  for (const auto& d : ds) out.push_back(&d);
  return out;
}

std::shared_ptr<const std::set<std::string>> owned(std::set<std::string> keys) {
  return std::make_shared<const std::set<std::string>>(std::move(keys));
}

StoreSnapshot withIngresses(const StoreSnapshot& snap, std::vector<json> ingresses) {
  ObjectSnapshot lists = snap.toLists();
  lists.ingresses = std::move(ingresses);
  return StoreSnapshot::fromLists(lists);
}

StatusInput inputOf(std::vector<json> routes, std::vector<Diagnostic> diags = {}, bool programmed = true) {
  StatusInput in;
  in.snapshot = StoreSnapshot::fromLists({.apiRoutes = std::move(routes)});
  in.diagnostics = std::move(diags);
  in.programmed = programmed;
  return in;
}

}  // namespace

TEST_SUITE("status") {
  TEST_CASE("a clean APIRoute gets Accepted, ResolvedRefs and Programmed True with its generation") {
    const json c = computeAPIRouteConditions(route("shop", "orders", 7), {}, true, true, kT0);
    REQUIRE(c.size() == 3);
    CHECK(c[0]["type"] == "Accepted");
    CHECK(c[1]["type"] == "ResolvedRefs");
    CHECK(c[2]["type"] == "Programmed");
    for (const auto& x : c) {
      CHECK(x["status"] == "True");
      CHECK(x["reason"] == x["type"]);
      CHECK(x["observedGeneration"] == 7);
      CHECK(x["lastTransitionTime"] == kT0);
      CHECK(x["message"].is_string());
    }
  }

  TEST_CASE("diagnostics make their condition False with the first reason and every distinct message") {
    const std::vector<Diagnostic> ds = {
        diag("orders", "Accepted", "InvalidRegex", "spec.rules[0].match.path.value: invalid RE2: missing )"),
        diag("orders", "Accepted", "UnsupportedFeature", "spec.rules[1].auth: not supported yet"),
        diag("orders", "Accepted", "InvalidRegex", "spec.rules[0].match.path.value: invalid RE2: missing )"),
        diag("orders", "ResolvedRefs", "BackendNotFound", "spec.rules[2].backends[0]: service \"x\" not found"),
    };
    const json c = computeAPIRouteConditions(route("shop", "orders", 3), pointers(ds), true, true, kT0);
    const json* accepted = condition(c, "Accepted");
    REQUIRE(accepted);
    CHECK((*accepted)["status"] == "False");
    CHECK((*accepted)["reason"] == "InvalidRegex");
    CHECK((*accepted)["message"] ==
          "spec.rules[0].match.path.value: invalid RE2: missing ); spec.rules[1].auth: not supported yet");
    const json* refs = condition(c, "ResolvedRefs");
    CHECK((*refs)["status"] == "False");
    CHECK((*refs)["reason"] == "BackendNotFound");
    CHECK((*refs)["observedGeneration"] == 3);
    CHECK((*condition(c, "Programmed"))["status"] == "True");  // the other rules are live
  }

  TEST_CASE("Programmed is False/Pending when the table was not published and False/Invalid without routes") {
    const json pending = computeAPIRouteConditions(route("shop", "a"), {}, false, true, kT0);
    CHECK((*condition(pending, "Programmed"))["status"] == "False");
    CHECK((*condition(pending, "Programmed"))["reason"] == "Pending");
    const json invalid = computeAPIRouteConditions(route("shop", "a"), {}, true, false, kT0);
    CHECK((*condition(invalid, "Programmed"))["reason"] == "Invalid");
  }

  TEST_CASE("lastTransitionTime is kept while the status value stays, and moves when it flips") {
    const json first = computeAPIRouteConditions(route("shop", "orders", 1), {}, true, true, kT0);
    const std::vector<Diagnostic> ds = {diag("orders", "Accepted", "InvalidHost", "spec.hosts[0]: bad")};
    // Generation 2: Accepted flips to False, ResolvedRefs stays True.
    const json second = computeAPIRouteConditions(route("shop", "orders", 2, "11", first), pointers(ds), true, true, kT1);
    CHECK((*condition(second, "Accepted"))["lastTransitionTime"] == kT1);
    CHECK((*condition(second, "ResolvedRefs"))["lastTransitionTime"] == kT0);
    CHECK((*condition(second, "ResolvedRefs"))["observedGeneration"] == 2);
    CHECK(conditionsDiffer(first, second));
    // Same status, new message: the time stays too.
    const std::vector<Diagnostic> ds2 = {diag("orders", "Accepted", "InvalidHost", "spec.hosts[1]: bad")};
    const json third =
        computeAPIRouteConditions(route("shop", "orders", 3, "12", second), pointers(ds2), true, true, "2024-05-02T00:00:00Z");
    CHECK((*condition(third, "Accepted"))["lastTransitionTime"] == kT1);
    CHECK((*condition(third, "Accepted"))["message"] == "spec.hosts[1]: bad");
  }

  TEST_CASE("conditions of other types keep their place; invalid reasons are made valid") {
    const json existing = json::array({{{"type", "Example.com/Audited"}, {"status", "True"}, {"reason", "Ok"},
                                        {"message", ""}, {"lastTransitionTime", kT0}}});
    const std::vector<Diagnostic> ds = {diag("orders", "Accepted", "bad reason!", "m")};
    const json c = computeAPIRouteConditions(route("shop", "orders", 1, "10", existing), pointers(ds), true, true, kT1);
    REQUIRE(c.size() == 4);
    CHECK(c[0]["type"] == "Example.com/Audited");
    CHECK((*condition(c, "Accepted"))["reason"] == "badreason");
  }

  TEST_CASE("only APIRoutes whose conditions changed are patched, on the status subresource") {
    FakeKubeClient client;
    std::string now = kT0;
    StatusWriter writer(client, [] { return true; }, fixedClock(&now));
    const json upToDate = computeAPIRouteConditions(route("shop", "same"), {}, true, true, kT0);
    const auto in = inputOf({route("shop", "same", 1, "10", upToDate), route("shop", "fresh", 1, "31"),
                             route("shop", "other-class", 1, "32", nullptr, "nginx")});
    const auto result = writer.syncOnce(in);
    CHECK(result.writes == 1);
    CHECK(result.retryable == 0);
    const auto patches = client.requests("PATCH");
    REQUIRE(patches.size() == 1);
    CHECK(patches[0].path == "/apis/portico.dev/v1alpha1/namespaces/shop/apiroutes/fresh/status");
    CHECK(patches[0].contentType == "application/merge-patch+json");
    const json body = patches[0].json();
    CHECK_FALSE(body.contains("metadata"));  // no resourceVersion precondition to go stale
    CHECK(body["status"]["conditions"].size() == 3);
    CHECK(client.requests().size() == 1);  // no Events without diagnostics
  }

  TEST_CASE("re-running an input whose snapshot predates our write does not write again") {
    FakeKubeClient client;
    std::string now = kT0;
    StatusWriter writer(client, [] { return true; }, fixedClock(&now));
    const auto in = inputOf({route("shop", "orders", 1, "10")});
    CHECK(writer.syncOnce(in).writes == 1);
    now = kT1;
    CHECK(writer.syncOnce(in).writes == 0);
    CHECK(client.requests("PATCH").size() == 1);
    // Someone else changed the object (new resourceVersion) and dropped our conditions: repaired.
    CHECK(writer.syncOnce(inputOf({route("shop", "orders", 1, "15")})).writes == 1);
  }

  TEST_CASE("a remembered write is forgotten once a snapshot shows a later version of the object") {
    FakeKubeClient client;
    std::string now = kT0;
    StatusWriter writer(client, [] { return true; }, fixedClock(&now));
    CHECK(writer.syncOnce(inputOf({route("shop", "orders", 1, "10"), route("shop", "cart", 1, "11")})).writes == 2);
    CHECK(writer.writesAwaitingEcho() == 2);
    // The watch brings our write back for one of them: that one needs no memo any more.
    const json written = client.requests("PATCH")[0].json()["status"]["conditions"];
    const bool cartFirst = client.requests("PATCH")[0].path.find("/cart/") != std::string::npos;
    const auto echoed = cartFirst ? route("shop", "cart", 1, "12", written) : route("shop", "orders", 1, "12", written);
    const auto waiting = cartFirst ? route("shop", "orders", 1, "10") : route("shop", "cart", 1, "11");
    CHECK(writer.syncOnce(inputOf({echoed, waiting})).writes == 0);
    CHECK(writer.writesAwaitingEcho() == 1);
    CHECK(client.requests("PATCH").size() == 2);
  }

  TEST_CASE("a non-leader writes nothing, and a leader lost mid-pass stops writing at once") {
    FakeKubeClient client;
    std::string now = kT0;
    SUBCASE("never leader") {
      StatusWriter writer(client, [] { return false; }, fixedClock(&now));
      StatusInput in = inputOf({route("shop", "a"), route("shop", "b")},
                               {diag("a", "Accepted", "InvalidHost", "spec.hosts[0]: bad")});
      in.ownedIngresses = owned({"shop/web"});
      in.snapshot = withIngresses(in.snapshot, {ingress("shop", "web")});
      const auto r = writer.syncOnce(in);
      CHECK(r.notLeader);
      CHECK(client.requests().empty());
    }
    SUBCASE("leadership ends after the first write") {
      std::atomic<int> checks{0};
      // True for the pass's first check and the first write's check only.
      StatusWriter writer(client, [&] { return ++checks <= 2; }, fixedClock(&now));
      const auto r = writer.syncOnce(inputOf({route("shop", "a"), route("shop", "b"), route("shop", "c")},
                                             {diag("a", "Accepted", "InvalidHost", "spec.hosts[0]: bad")}));
      CHECK(r.notLeader);
      CHECK(r.writes == 1);
      CHECK(client.requests().size() == 1);
    }
  }

  TEST_CASE("404 is dropped quietly, 409 re-reads and retries, 5xx is retried later") {
    // "busy" carries another writer's condition, so its patch has a precondition and can 409.
    const json audited = json::array({{{"type", "Example.com/Audited"}, {"status", "True"}, {"reason", "Audited"},
                                       {"message", ""}, {"lastTransitionTime", kT0}}});
    FakeKubeClient client;
    std::string now = kT0;
    StatusWriter writer(client, [] { return true; }, fixedClock(&now));
    const std::string gone = "/apis/portico.dev/v1alpha1/namespaces/shop/apiroutes/gone";
    const std::string busy = "/apis/portico.dev/v1alpha1/namespaces/shop/apiroutes/busy";
    const std::string down = "/apis/portico.dev/v1alpha1/namespaces/shop/apiroutes/down";
    client.script("PATCH", gone + "/status", 404, R"({"kind":"Status","reason":"NotFound"})");
    client.script("PATCH", busy + "/status", 409, R"({"kind":"Status","reason":"Conflict"})");
    client.script("GET", busy, 200, route("shop", "busy", 1, "44", audited).dump());
    client.script("PATCH", down + "/status", 503, R"({"kind":"Status","message":"etcd unavailable"})");
    const auto r =
        writer.syncOnce(inputOf({route("shop", "gone"), route("shop", "busy", 1, "40", audited), route("shop", "down")}));
    CHECK(r.writes == 1);
    CHECK(r.retryable == 1);
    CHECK(r.conflicts == 1);
    const auto patches = client.requests("PATCH");
    REQUIRE(patches.size() == 4);  // in namespace/name order, as the store keeps them
    CHECK(patches[0].path == busy + "/status");
    CHECK(patches[0].json()["metadata"]["resourceVersion"] == "40");
    CHECK(patches[1].path == busy + "/status");
    CHECK(patches[1].json()["metadata"]["resourceVersion"] == "44");  // the re-read object's
    CHECK(patches[1].json()["status"]["conditions"][0]["type"] == "Example.com/Audited");  // kept
    // The failed one is retried on the next pass; the deleted one is not.
    client.clear();
    const auto again = writer.syncOnce(inputOf({route("shop", "down")}));
    CHECK(again.writes == 1);
    CHECK(client.requests("PATCH").size() == 1);
  }

  TEST_CASE("a 409 whose re-read shows a newer generation still writes the generation that was rendered") {
    const json audited = json::array({{{"type", "Example.com/Audited"}, {"status", "True"}, {"reason", "Audited"},
                                       {"message", ""}, {"lastTransitionTime", kT0}}});
    FakeKubeClient client;
    std::string now = kT0;
    StatusWriter writer(client, [] { return true; }, fixedClock(&now));
    const std::string path = "/apis/portico.dev/v1alpha1/namespaces/shop/apiroutes/orders";
    client.script("PATCH", path + "/status", 409);
    client.script("GET", path, 200, route("shop", "orders", 2, "50", audited).dump());
    const auto r = writer.syncOnce(inputOf({route("shop", "orders", 1, "40", audited)}));
    CHECK(r.writes == 1);
    CHECK(r.conflicts == 1);
    const auto patches = client.requests("PATCH");
    REQUIRE(patches.size() == 2);
    const json body = patches[1].json();
    CHECK(body["metadata"]["resourceVersion"] == "50");
    CHECK((*condition(body["status"]["conditions"], "Programmed"))["observedGeneration"] == 1);
  }

  TEST_CASE("a 409 whose re-read already carries a newer observedGeneration is not moved back") {
    const json newer = computeAPIRouteConditions(route("shop", "orders", 3), {}, true, true, kT0);
    json withForeign = newer;
    withForeign.push_back({{"type", "Example.com/Audited"}, {"status", "True"}, {"reason", "Audited"},
                           {"message", ""}, {"lastTransitionTime", kT0}});
    FakeKubeClient client;
    std::string now = kT0;
    StatusWriter writer(client, [] { return true; }, fixedClock(&now));
    const std::string path = "/apis/portico.dev/v1alpha1/namespaces/shop/apiroutes/orders";
    client.script("PATCH", path + "/status", 409);
    client.script("GET", path, 200, route("shop", "orders", 3, "60", withForeign).dump());
    const json old = json::array({withForeign.back()});
    const auto r = writer.syncOnce(inputOf({route("shop", "orders", 2, "40", old)}));
    CHECK(r.writes == 0);
    CHECK(r.retryable == 0);
    CHECK(client.requests("PATCH").size() == 1);
  }

  // Regression (issue 15): with a resourceVersion precondition, every status PATCH lost to
  // the next spec edit (409, dropped), so status never moved while edits kept coming.
  TEST_CASE("during a stream of spec edits every pass writes, one generation behind at most, then catches up") {
    // The API server's side of one APIRoute: merge-patch of /status honours a resourceVersion
    // precondition like the real one; `editBeforeNextPatch` lands a spec edit (generation and
    // resourceVersion bump) just before the writer's PATCH arrives.
    struct Server {
      json object = route("shop", "orders", 1, "100");
      int rv = 100;
      bool editBeforeNextPatch = false;
      int conflicts = 0;
    } server;
    std::mutex mu;
    FakeKubeClient client;
    const std::string path = "/apis/portico.dev/v1alpha1/namespaces/shop/apiroutes/orders";
    auto edit = [&] {
      server.object["metadata"]["generation"] = server.object["metadata"]["generation"].get<int>() + 1;
      server.object["metadata"]["resourceVersion"] = std::to_string(++server.rv);
    };
    client.setHandler([&](const RecordedRequest& req) -> std::optional<Expected<KubeResponse>> {
      std::lock_guard lock(mu);
      if (req.method == "GET" && req.path == path) return KubeResponse{200, server.object.dump()};
      if (req.method != "PATCH" || req.path != path + "/status") return std::nullopt;
      if (server.editBeforeNextPatch) {
        edit();
        server.editBeforeNextPatch = false;
      }
      const json patch = req.json();
      if (patch.contains("metadata") &&
          patch["metadata"]["resourceVersion"] != server.object["metadata"]["resourceVersion"]) {
        ++server.conflicts;
        return KubeResponse{409, R"({"kind":"Status","reason":"Conflict"})"};
      }
      server.object["status"] = patch["status"];
      server.object["metadata"]["resourceVersion"] = std::to_string(++server.rv);
      return KubeResponse{200, server.object.dump()};
    });
    std::string now = kT0;
    StatusWriter writer(client, [] { return true; }, fixedClock(&now));
    auto observed = [&] {
      std::lock_guard lock(mu);
      return (*condition(server.object["status"]["conditions"], "Programmed"))["observedGeneration"].get<int>();
    };
    for (int i = 0; i < 20; ++i) {
      json snapshot;
      {
        std::lock_guard lock(mu);
        snapshot = server.object;  // what the render saw
        server.editBeforeNextPatch = true;
      }
      const auto r = writer.syncOnce(inputOf({snapshot}));
      CHECK(r.writes == 1);
      CHECK(r.conflicts == 0);
      std::lock_guard lock(mu);
      const int generation = server.object["metadata"]["generation"].get<int>();
      const int got = (*condition(server.object["status"]["conditions"], "Programmed"))["observedGeneration"];
      CHECK(got == snapshot["metadata"]["generation"].get<int>());
      CHECK(generation - got == 1);  // one edit behind, never more
    }
    // The edits stop: the next render's pass catches up.
    json last;
    {
      std::lock_guard lock(mu);
      last = server.object;
    }
    CHECK(writer.syncOnce(inputOf({last})).writes == 1);
    CHECK(observed() == last["metadata"]["generation"].get<int>());
    CHECK(server.conflicts == 0);
  }

  TEST_CASE("Ingress status comes from --publish-address and is written only when it differs") {
    FakeKubeClient client;
    std::string now = kT0;
    auto options = fixedClock(&now);
    options.publishAddress = "203.0.113.7, lb.example.com,2001:db8::1";
    StatusWriter writer(client, [] { return true; }, options);
    const json want = json::array({{{"ip", "203.0.113.7"}}, {{"hostname", "lb.example.com"}}, {{"ip", "2001:db8::1"}}});
    StatusInput in;
    in.snapshot = withIngresses(in.snapshot, {ingress("shop", "web"), ingress("shop", "done", want), ingress("shop", "foreign")});
    in.ownedIngresses = owned({"shop/web", "shop/done"});
    const auto r = writer.syncOnce(in);
    CHECK(r.writes == 1);
    const auto patches = client.requests("PATCH");
    REQUIRE(patches.size() == 1);
    CHECK(patches[0].path == "/apis/networking.k8s.io/v1/namespaces/shop/ingresses/web/status");
    CHECK(patches[0].contentType == "application/merge-patch+json");
    CHECK(patches[0].json()["status"]["loadBalancer"]["ingress"] == want);
    CHECK(writer.syncOnce(in).writes == 0);  // same snapshot: already written
  }

  TEST_CASE("after a pass that settled every Ingress, the next one writes only Ingresses that changed") {
    FakeKubeClient client;
    std::string now = kT0;
    auto options = fixedClock(&now);
    options.publishAddress = "203.0.113.7";
    StatusWriter writer(client, [] { return true; }, options);
    const json want = json::array({{{"ip", "203.0.113.7"}}});
    ObjectStore store;
    for (const char* name : {"a", "b", "c"}) store.upsert(Kind::Ingress, ingress("shop", name, want));
    StatusInput in;
    in.ownedIngresses = owned({"shop/a", "shop/b", "shop/c"});
    in.snapshot = store.snapshot();
    CHECK(writer.syncOnce(in).writes == 0);  // all three already carry the address: settled

    // b's status was cleared behind our back (a new object), and c lost its write once.
    store.upsert(Kind::Ingress, ingress("shop", "b", json::array(), "31"));
    store.upsert(Kind::Ingress, ingress("shop", "c", json::array(), "32"));
    client.script("PATCH", "/apis/networking.k8s.io/v1/namespaces/shop/ingresses/c/status", 503);
    in.snapshot = store.snapshot();
    auto r = writer.syncOnce(in);
    CHECK(r.writes == 1);
    CHECK(r.retryable == 1);
    // Not settled: the same input runs again and writes c (a pass that settled everything
    // would have looked at nothing).
    r = writer.syncOnce(in);
    CHECK(r.writes == 1);
    const auto patches = client.requests("PATCH");
    REQUIRE(patches.size() == 3);
    CHECK(patches[0].path.find("/ingresses/b/status") != std::string::npos);
    CHECK(patches[2].path.find("/ingresses/c/status") != std::string::npos);
    CHECK(writer.syncOnce(in).writes == 0);
    CHECK(client.requests("PATCH").size() == 3);
  }

  TEST_CASE("Ingress status comes from the publish Service's load balancer, and waits while it has none") {
    FakeKubeClient client;
    std::string now = kT0;
    auto options = fixedClock(&now);
    options.publishService = "portico-system/portico";
    StatusWriter writer(client, [] { return true; }, options);
    const std::string svc = "/api/v1/namespaces/portico-system/services/portico";
    StatusInput in;
    in.snapshot = withIngresses(in.snapshot, {ingress("shop", "web")});
    in.ownedIngresses = owned({"shop/web"});
    client.script("GET", svc, 200, R"({"spec":{"clusterIP":"10.0.0.5"},"status":{"loadBalancer":{}}})");
    auto r = writer.syncOnce(in);
    CHECK(r.writes == 0);
    CHECK(r.retryable == 1);  // look again later; the clusterIP is not an external address
    CHECK(client.requests("PATCH").empty());
    client.script("GET", svc, 200,
                  R"({"status":{"loadBalancer":{"ingress":[{"ip":"198.51.100.4","ipMode":"VIP"},{"hostname":"a.elb.example"}]}}})");
    r = writer.syncOnce(in);
    CHECK(r.writes == 1);
    const auto patches = client.requests("PATCH");
    REQUIRE(patches.size() == 1);
    CHECK(patches[0].json()["status"]["loadBalancer"]["ingress"] ==
          json::array({{{"ip", "198.51.100.4"}}, {{"hostname", "a.elb.example"}}}));
  }

  TEST_CASE("each diagnostic becomes one Warning Event, not one per render") {
    FakeKubeClient client;
    std::string now = kT0;
    auto options = fixedClock(&now);
    options.reportingInstance = "portico-abc";
    StatusWriter writer(client, [] { return true; }, options);
    // Another class: its status is not ours to write, so only Event requests show below.
    json obj = route("shop", "orders", 1, "10", nullptr, "other");
    const Diagnostic d = diag("orders", "ResolvedRefs", "BackendNotFound", "spec.rules[0].backends[0]: no Service");
    StatusInput in = inputOf({obj}, {d, d});
    writer.syncOnce(in);
    auto posts = client.requests("POST");
    REQUIRE(posts.size() == 1);
    CHECK(posts[0].path == "/api/v1/namespaces/shop/events");
    const json e = posts[0].json();
    CHECK(e["type"] == "Warning");
    CHECK(e["reason"] == "BackendNotFound");
    CHECK(e["message"] == "spec.rules[0].backends[0]: no Service");
    CHECK(e["involvedObject"] == json({{"kind", "APIRoute"},
                                       {"namespace", "shop"},
                                       {"name", "orders"},
                                       {"uid", "uid-orders"},
                                       {"apiVersion", "portico.dev/v1alpha1"},
                                       {"resourceVersion", "10"}}));
    CHECK(e["source"]["component"] == "portico");
    CHECK(e["reportingComponent"] == "portico.dev/ingress-controller");
    CHECK(e["reportingInstance"] == "portico-abc");
    CHECK(e["firstTimestamp"] == kT0);
    CHECK(e["lastTimestamp"] == kT0);
    CHECK(e["count"] == 1);
    CHECK(e["metadata"]["namespace"] == "shop");
    const std::string eventName = e["metadata"]["name"];
    CHECK(eventName.rfind("orders.", 0) == 0);

    // Later renders with the same finding post nothing.
    client.clear();
    now = kT1;
    writer.syncOnce(in);
    writer.syncOnce(in);
    CHECK(client.requests("POST").empty());
    CHECK(client.requests("PATCH").empty());

    // It goes away, then comes back: the same Event is counted again.
    writer.syncOnce(inputOf({obj}));
    writer.syncOnce(in);
    CHECK(client.requests("POST").empty());
    auto patches = client.requests("PATCH");
    REQUIRE(patches.size() == 1);
    CHECK(patches[0].path == "/api/v1/namespaces/shop/events/" + eventName);
    CHECK(patches[0].contentType == "application/merge-patch+json");
    CHECK(patches[0].json() == json({{"count", 2}, {"lastTimestamp", kT1}}));

    // A different message is a different finding.
    client.clear();
    writer.syncOnce(inputOf({obj}, {d, diag("orders", "Accepted", "InvalidHost", "spec.hosts[0]: bad")}));
    CHECK(client.requests("POST").size() == 1);
  }

  TEST_CASE("Events are not posted by a non-leader, and are posted once it leads") {
    FakeKubeClient client;
    std::string now = kT0;
    std::atomic<bool> leader{false};
    StatusWriter writer(client, [&] { return leader.load(); }, fixedClock(&now));
    const StatusInput in = inputOf({}, {diag("orders", "Accepted", "InvalidHost", "spec.hosts[0]: bad")});
    writer.syncOnce(in);
    CHECK(client.requests().empty());
    leader = true;
    writer.syncOnce(in);
    CHECK(client.requests("POST").size() == 1);
  }

  TEST_CASE("a burst of inputs gives one pass with the latest; a new leader writes the last input") {
    FakeKubeClient client;
    std::string now = kT0;
    std::atomic<bool> leader{false};
    auto options = fixedClock(&now);
    options.leaderPoll = 20ms;
    StatusWriter writer(client, [&] { return leader.load(); }, options);
    writer.start();
    for (int i = 1; i <= 5; ++i) writer.enqueue(inputOf({route("shop", "r" + std::to_string(i))}));
    std::this_thread::sleep_for(100ms);
    CHECK(client.requests().empty());  // not the leader
    CHECK(writer.passes() == 0);
    leader = true;
    REQUIRE(eventually([&] { return writer.passes() >= 1; }));
    std::this_thread::sleep_for(100ms);
    CHECK(writer.passes() == 1);
    const auto patches = client.requests("PATCH");
    REQUIRE(patches.size() == 1);
    CHECK(patches[0].path == "/apis/portico.dev/v1alpha1/namespaces/shop/apiroutes/r5/status");
    writer.stop();
  }

  TEST_CASE("a failed pass is retried with backoff on the writer's thread") {
    FakeKubeClient client;
    std::string now = kT0;
    auto options = fixedClock(&now);
    options.retryInitial = 20ms;
    StatusWriter writer(client, [] { return true; }, options);
    const std::string path = "/apis/portico.dev/v1alpha1/namespaces/shop/apiroutes/orders/status";
    client.scriptError("PATCH", path, "connection refused");
    client.script("PATCH", path, 500);
    writer.start();
    writer.enqueue(inputOf({route("shop", "orders")}));
    REQUIRE(eventually([&] { return client.requests("PATCH").size() == 3; }));
    std::this_thread::sleep_for(100ms);
    CHECK(client.requests("PATCH").size() == 3);  // the third succeeded; nothing more
    CHECK(writer.passes() == 3);
  }

  TEST_CASE("makeStatusInput shares the rendered snapshot and lists the routed APIRoutes") {
    ObjectSnapshot snap;
    snap.apiRoutes = {route("shop", "orders"), route("shop", "empty")};
    snap.ingresses = {ingress("shop", "web"), ingress("shop", "theirs"), ingress("shop", "flagged")};
    snap.secrets = {json{{"metadata", {{"namespace", "shop"}, {"name", "tls"}}}},
                    json{{"metadata", {{"namespace", "shop"}, {"name", "unrelated"}}}}};
    RenderResult result;
    result.diagnostics = {diag("tls", "ResolvedRefs", "InvalidSecret", "bad", "Secret"),
                          diag("flagged", "Accepted", "Conflict", "claimed twice", "Ingress"),
                          diag("web", "Accepted", "Conflict", "claimed twice", "Ingress")};
    result.routedAPIRoutes = {ObjectRef{"APIRoute", "shop", "orders"}};
    const StoreSnapshot shared = StoreSnapshot::fromLists(snap);
    const StatusInput in = makeStatusInput(shared, result, true, owned({"shop/web"}));
    CHECK(in.programmed);
    // The same objects, not copies: nothing is deep-copied per render.
    CHECK(in.snapshot.shared(Kind::APIRoute) == shared.shared(Kind::APIRoute));
    CHECK(in.snapshot.shared(Kind::Ingress) == shared.shared(Kind::Ingress));
    CHECK(*in.ownedIngresses == std::set<std::string>{"shop/web"});
    REQUIRE(in.routedAPIRoutes);
    CHECK(*in.routedAPIRoutes == std::set<std::string>{"shop/orders"});
    CHECK(in.diagnostics.size() == 3);
  }
}

}  // namespace portico::controller::test
