#include "controller/reconcile/render_scheduler.h"

#include <doctest/doctest.h>

#include <random>

namespace portico::controller::test {
namespace {

using namespace std::chrono_literals;
using Clock = RenderScheduler::Clock;

const Clock::time_point kT0 = Clock::time_point() + 1h;  // a manual clock: tests move it by hand

}  // namespace

TEST_SUITE("reconcile") {
  TEST_CASE("the first change after a quiet period is due at once") {
    RenderScheduler s;
    CHECK(s.nextDue() == Clock::time_point::max());  // nothing seen: idle
    CHECK_FALSE(s.startRender(kT0).has_value());
    s.changed(1);
    CHECK(s.nextDue() <= kT0);
    const auto g = s.startRender(kT0);  // same instant: no quiet window, no delay floor
    REQUIRE(g.has_value());
    CHECK(*g == 1);
    s.finishRender();
    CHECK(s.rendered() == 1);
    CHECK(s.nextDue() == Clock::time_point::max());
    // Long quiet, then one more change: again at once.
    s.changed(2);
    CHECK(s.startRender(kT0 + 10min) == std::optional<uint64_t>(2));
    s.finishRender();
    CHECK(s.renders() == 2);
  }

  TEST_CASE("a burst during a render gives exactly one follow-up render, with the newest generation") {
    RenderScheduler s;
    s.changed(1);
    REQUIRE(s.startRender(kT0) == std::optional<uint64_t>(1));
    for (uint64_t g = 2; g <= 50; ++g) {
      s.changed(g);
      CHECK_FALSE(s.startRender(kT0 + 1ms).has_value());  // one render at a time
      CHECK(s.nextDue() == Clock::time_point::max());
    }
    s.finishRender();
    CHECK(s.nextDue() <= kT0 + 5ms);  // due right after the running render, no floor
    CHECK(s.startRender(kT0 + 5ms) == std::optional<uint64_t>(50));
    s.finishRender();
    CHECK_FALSE(s.startRender(kT0 + 6ms).has_value());  // nothing left: no third render
    CHECK(s.renders() == 2);
  }

  TEST_CASE("a render whose snapshot was newer than it was told covers that generation") {
    RenderScheduler s;
    s.changed(3);
    REQUIRE(s.startRender(kT0) == std::optional<uint64_t>(3));
    s.finishRender(5);  // the caller read generation 5 before taking its snapshot
    s.changed(5);       // ...and the wait reports it afterwards: already rendered
    CHECK_FALSE(s.startRender(kT0).has_value());
    s.changed(4);  // stale reports are ignored
    CHECK_FALSE(s.startRender(kT0).has_value());
  }

  TEST_CASE("minInterval spaces render starts and nothing else") {
    RenderScheduler s(10ms);
    s.changed(1);
    REQUIRE(s.startRender(kT0).has_value());  // the first is never delayed
    s.changed(2);
    s.finishRender();
    CHECK(s.nextDue() == kT0 + 10ms);
    CHECK_FALSE(s.startRender(kT0 + 9ms).has_value());
    CHECK(s.startRender(kT0 + 10ms) == std::optional<uint64_t>(2));
    s.finishRender();
    s.changed(3);
    CHECK(s.startRender(kT0 + 1s) == std::optional<uint64_t>(3));  // after a quiet period: at once
  }

  TEST_CASE("no change is ever lost: the last generation is always rendered (randomized interleavings)") {
    for (unsigned seed = 1; seed <= 200; ++seed) {
      std::mt19937 rng(seed);
      RenderScheduler s(seed % 3 == 0 ? 2ms : 0ms);
      auto now = kT0;
      uint64_t generation = 0;
      uint64_t lastRendered = 0;
      std::optional<uint64_t> running;
      for (int step = 0; step < 300; ++step) {
        switch (rng() % 4) {
          case 0:
          case 1:
            s.changed(++generation);
            break;
          case 2:
            if (!running) running = s.startRender(now);
            break;
          case 3:
            if (running) {
              CHECK(*running >= lastRendered);  // renders move forward
              lastRendered = *running;
              s.finishRender();
              running.reset();
            }
            break;
        }
        now += std::chrono::microseconds(rng() % 3000);
      }
      // Drain as the Reconciler does: finish what runs, then render while anything is due.
      if (running) {
        lastRendered = *running;
        s.finishRender();
        running.reset();
      }
      for (int i = 0; i < 3; ++i) {
        now = std::max(now, s.nextDue() == Clock::time_point::max() ? now : s.nextDue());
        if (auto g = s.startRender(now)) {
          lastRendered = *g;
          s.finishRender();
        }
      }
      CHECK(lastRendered == generation);
      CHECK(s.rendered() == generation);
      CHECK(s.nextDue() == Clock::time_point::max());
    }
  }
}

}  // namespace portico::controller::test
