#include "controller/reconcile/reconciler.h"

#include <doctest/doctest.h>

#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

namespace portico::controller::test {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;

json apiRoute(const std::string& name, int v) {
  return {{"apiVersion", "portico.dev/v1alpha1"},
          {"kind", "APIRoute"},
          {"metadata", {{"namespace", "shop"}, {"name", name}, {"generation", v}}},
          {"spec", {{"hosts", json::array({name + ".example.com"})}, {"rules", json::array()}}}};
}

// Records every render's snapshot; while `hold` is set, the reconciler's thread waits in
// onRendered, i.e. the render is still running. No sleeps: tests wait on the condition
// variable against a generous deadline.
struct Renders {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<ObjectSnapshot> seen;
  bool hold = false;

  void onRendered(const StoreSnapshot& snapshot) {
    std::unique_lock lock(mu);
    seen.push_back(snapshot.toLists());
    cv.notify_all();
    cv.wait(lock, [&] { return !hold; });
  }
  // Waits until at least n renders happened; returns how many.
  size_t waitFor(size_t n) {
    std::unique_lock lock(mu);
    cv.wait_for(lock, 20s, [&] { return seen.size() >= n; });
    return seen.size();
  }
  void setHold(bool h) {
    std::lock_guard lock(mu);
    hold = h;
    cv.notify_all();
  }
  ObjectSnapshot at(size_t i) {
    std::lock_guard lock(mu);
    return seen.at(i);
  }
};

int versionOf(const ObjectSnapshot& snap, const std::string& name) {
  for (const auto& o : snap.apiRoutes) {
    if (o["metadata"]["name"] == name) return o["metadata"]["generation"].get<int>();
  }
  return -1;
}

struct Harness {
  ObjectStore store;
  proxy::TablePublisher publisher;
  proxy::Metrics metrics;
  Renders renders;
  Reconciler reconciler{store, publisher, metrics, RenderOptions{},
                        [this](const StoreSnapshot& s, const RenderReport&, bool) { renders.onRendered(s); }};
  ~Harness() {  // a failed REQUIRE may leave a render held: release it so stop() can join
    renders.setHold(false);
    reconciler.stop();
  }
};

}  // namespace

TEST_SUITE("reconcile") {
  TEST_CASE("a burst during a render is coalesced into exactly one follow-up render of the last state") {
    Harness h;
    h.store.replace(Kind::APIRoute, "", {apiRoute("a", 0)});
    h.renders.setHold(true);
    h.reconciler.start();
    REQUIRE(h.renders.waitFor(1) == 1);  // render 1 is running (held)
    CHECK(versionOf(h.renders.at(0), "a") == 0);
    for (int v = 1; v <= 20; ++v) h.store.upsert(Kind::APIRoute, apiRoute("a", v));
    h.store.upsert(Kind::APIRoute, apiRoute("b", 1));
    h.renders.setHold(false);
    REQUIRE(h.renders.waitFor(2) >= 2);
    CHECK(versionOf(h.renders.at(1), "a") == 20);
    CHECK(versionOf(h.renders.at(1), "b") == 1);
    // Nothing else was pending: the next render is the one the next change causes.
    h.store.upsert(Kind::APIRoute, apiRoute("c", 1));
    REQUIRE(h.renders.waitFor(3) >= 3);
    CHECK(versionOf(h.renders.at(2), "c") == 1);
    h.reconciler.stop();
    CHECK(h.renders.seen.size() == 3);
    CHECK(h.reconciler.ready());
  }

  TEST_CASE("a single change after a quiet period is rendered, and a change during that render follows it") {
    Harness h;
    h.store.expect(Kind::APIRoute, "");
    h.store.replace(Kind::APIRoute, "", {});  // the first list, empty: one render
    h.reconciler.start();
    REQUIRE(h.renders.waitFor(1) == 1);
    h.renders.setHold(true);
    h.store.upsert(Kind::APIRoute, apiRoute("a", 1));
    REQUIRE(h.renders.waitFor(2) == 2);  // held inside render 2
    CHECK(versionOf(h.renders.at(1), "a") == 1);
    h.store.upsert(Kind::APIRoute, apiRoute("a", 2));
    h.renders.setHold(false);
    REQUIRE(h.renders.waitFor(3) >= 3);
    CHECK(versionOf(h.renders.at(2), "a") == 2);
    h.reconciler.stop();
  }

  TEST_CASE("no change is lost under a stream of edits: the last state is always rendered") {
    Harness h;
    h.store.expect(Kind::APIRoute, "");
    h.store.replace(Kind::APIRoute, "", {});  // the first list, empty: one render
    h.reconciler.start();
    REQUIRE(h.renders.waitFor(1) == 1);
    constexpr int kEdits = 500;
    for (int v = 1; v <= kEdits; ++v) h.store.upsert(Kind::APIRoute, apiRoute("a", v));
    {
      std::unique_lock lock(h.renders.mu);
      const bool done = h.renders.cv.wait_for(lock, 20s, [&] {
        return !h.renders.seen.empty() && versionOf(h.renders.seen.back(), "a") == kEdits;
      });
      REQUIRE(done);
      int last = -1;
      for (const auto& snap : h.renders.seen) {
        const int v = versionOf(snap, "a");
        CHECK(v >= last);  // renders move forward
        last = v;
      }
      // Coalesced: far fewer renders than edits would be expected, but the count depends on
      // thread timing, so only the bound that always holds is checked.
      CHECK(h.renders.seen.size() <= kEdits + 1);
    }
    h.reconciler.stop();
  }

  TEST_CASE("free heap is released once after a quiet spell following a render, not while idle") {
    ObjectStore store;
    proxy::TablePublisher publisher;
    proxy::Metrics metrics;
    Renders renders;
    std::mutex mu;
    std::condition_variable cv;
    int releases = 0;
    ReconcileTiming timing;
    timing.releaseMemoryAfter = 30ms;
    timing.releaseMemory = [&] {
      std::lock_guard lock(mu);
      ++releases;
      cv.notify_all();
    };
    Reconciler reconciler{store, publisher, metrics, RenderOptions{},
                          [&](const StoreSnapshot& s, const RenderReport&, bool) { renders.onRendered(s); }, timing};
    auto waitReleases = [&](int n) {
      std::unique_lock lock(mu);
      cv.wait_for(lock, 20s, [&] { return releases >= n; });
      return releases;
    };
    store.replace(Kind::APIRoute, "", {apiRoute("a", 0)});
    reconciler.start();
    REQUIRE(renders.waitFor(1) == 1);
    CHECK(waitReleases(1) == 1);
    // Idle: the reconciler keeps polling, but nothing was rendered, so nothing to release.
    std::this_thread::sleep_for(300ms);
    CHECK(waitReleases(1) == 1);
    store.upsert(Kind::APIRoute, apiRoute("a", 1));
    REQUIRE(renders.waitFor(2) == 2);
    CHECK(waitReleases(2) == 2);
    reconciler.stop();
  }

  TEST_CASE("nothing renders before every expected reflector listed") {
    Harness h;
    h.store.expect(Kind::APIRoute, "");
    h.store.expect(Kind::Service, "");
    h.reconciler.start();
    h.store.replace(Kind::APIRoute, "", {apiRoute("a", 1)});
    h.store.upsert(Kind::APIRoute, apiRoute("a", 2));
    h.store.replace(Kind::Service, "", {});  // synced now
    REQUIRE(h.renders.waitFor(1) >= 1);
    CHECK(versionOf(h.renders.at(0), "a") == 2);  // the first render already has the full list
    CHECK(h.store.synced());
    h.reconciler.stop();
  }
}

}  // namespace portico::controller::test
