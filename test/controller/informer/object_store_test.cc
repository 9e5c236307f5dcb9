#include <doctest/doctest.h>

#include "controller/informer/object_store.h"

using namespace portico::controller;
using nlohmann::json;

namespace {
json object(const std::string& ns, const std::string& name, int v = 0) {
  return json{{"metadata", {{"namespace", ns}, {"name", name}}}, {"spec", {{"v", v}}}};
}
}  // namespace

TEST_SUITE("informer") {
  TEST_CASE("the store is synced only after every expected reflector listed once") {
    ObjectStore store;
    store.expect(Kind::Service, "");
    store.expect(Kind::Secret, "");
    CHECK_FALSE(store.synced());
    store.replace(Kind::Service, "", {});
    CHECK_FALSE(store.synced());
    store.replace(Kind::Secret, "", {object("a", "s")});
    CHECK(store.synced());
    CHECK(store.snapshot().toLists().secrets.size() == 1);
  }

  TEST_CASE("a relist replaces the kind wholesale: vanished objects are gone") {
    ObjectStore store;
    store.replace(Kind::Ingress, "", {object("a", "one"), object("a", "two")});
    store.replace(Kind::Ingress, "", {object("a", "two")});
    const auto snap = store.snapshot().toLists();
    REQUIRE(snap.ingresses.size() == 1);
    CHECK(snap.ingresses[0]["metadata"]["name"] == "two");
  }

  TEST_CASE("a namespaced relist replaces only its namespace") {
    ObjectStore store;
    store.replace(Kind::Service, "a", {object("a", "x")});
    store.replace(Kind::Service, "b", {object("b", "y")});
    store.replace(Kind::Service, "a", {});
    const auto snap = store.snapshot().toLists();
    REQUIRE(snap.services.size() == 1);
    CHECK(snap.services[0]["metadata"]["namespace"] == "b");
  }

  TEST_CASE("watch events upsert and delete; an identical relist does not bump the generation") {
    ObjectStore store;
    store.replace(Kind::APIRoute, "", {object("a", "r", 1)});
    const uint64_t afterList = store.generation();
    store.upsert(Kind::APIRoute, object("a", "r", 2));
    CHECK(store.generation() == afterList + 1);
    CHECK(store.snapshot().toLists().apiRoutes[0]["spec"]["v"] == 2);
    const uint64_t before = store.generation();
    store.replace(Kind::APIRoute, "", {object("a", "r", 2)});
    CHECK(store.generation() == before);
    store.remove(Kind::APIRoute, object("a", "r"));
    CHECK(store.snapshot().toLists().apiRoutes.empty());
    CHECK(store.generation() == before + 1);
  }

  TEST_CASE("waitForChange returns as soon as the generation moves") {
    ObjectStore store;
    const uint64_t seen = store.generation();
    std::thread writer([&] { store.upsert(Kind::Secret, object("a", "s")); });
    const uint64_t now = store.waitForChange(seen, std::chrono::seconds(5));
    writer.join();
    CHECK(now == seen + 1);
  }
}

TEST_SUITE("informer") {
  TEST_CASE("a change of status or resourceVersion only is stored but does not ask for a render") {
    ObjectStore store;
    json route = object("a", "r", 1);
    route["metadata"]["resourceVersion"] = "10";
    store.upsert(Kind::APIRoute, route);
    const uint64_t before = store.generation();
    route["metadata"]["resourceVersion"] = "11";
    route["status"] = {{"conditions", json::array({{{"type", "Accepted"}}})}};
    store.upsert(Kind::APIRoute, route);
    CHECK(store.generation() == before);
    CHECK(store.snapshot().toLists().apiRoutes[0]["status"]["conditions"][0]["type"] == "Accepted");
    route["spec"]["v"] = 2;
    store.upsert(Kind::APIRoute, route);
    CHECK(store.generation() == before + 1);
    // Status gone again, with a new resourceVersion: still nothing for render.
    route.erase("status");
    route["metadata"]["resourceVersion"] = "12";
    store.upsert(Kind::APIRoute, route);
    CHECK(store.generation() == before + 1);
    // Any other metadata member counts (generation here), as does a member added or removed.
    route["metadata"]["generation"] = 3;
    store.upsert(Kind::APIRoute, route);
    CHECK(store.generation() == before + 2);
    route["metadata"].erase("generation");
    store.upsert(Kind::APIRoute, route);
    CHECK(store.generation() == before + 3);
    route["kind"] = "APIRoute";
    store.upsert(Kind::APIRoute, route);
    CHECK(store.generation() == before + 4);
  }
  TEST_CASE("a Gateway's status.addresses asks for a render (its pool address); its conditions do not") {
    ObjectStore store;
    json gw = object("infra", "web", 1);
    store.upsert(Kind::Gateway, gw);
    const uint64_t before = store.generation();
    gw["status"] = {{"conditions", json::array({{{"type", "Accepted"}}})}};
    store.upsert(Kind::Gateway, gw);
    CHECK(store.generation() == before);
    gw["status"]["addresses"] = {{{"type", "IPAddress"}, {"value", "10.0.10.1"}}};
    store.upsert(Kind::Gateway, gw);
    CHECK(store.generation() == before + 1);
    gw["status"]["conditions"][0]["type"] = "Programmed";
    store.upsert(Kind::Gateway, gw);
    CHECK(store.generation() == before + 1);
    gw.erase("status");
    store.upsert(Kind::Gateway, gw);
    CHECK(store.generation() == before + 2);
  }

  TEST_CASE("an Opaque Secret whose data changes (a key rotation) asks for a render and reaches the snapshot") {
    ObjectStore store;
    json secret = {{"metadata", {{"namespace", "shop"}, {"name", "keys"}, {"resourceVersion", "1"}}},
                   {"type", "Opaque"},
                   {"data", {{"alice", "b2xk"}}}};
    store.upsert(Kind::Secret, secret);
    const uint64_t before = store.generation();
    secret["metadata"]["resourceVersion"] = "2";
    secret["data"]["alice"] = "bmV3";
    store.upsert(Kind::Secret, secret);
    CHECK(store.generation() != before);
    const auto snap = store.snapshot().toLists();
    REQUIRE(snap.secrets.size() == 1);
    CHECK(snap.secrets[0]["data"]["alice"] == "bmV3");
  }
}
