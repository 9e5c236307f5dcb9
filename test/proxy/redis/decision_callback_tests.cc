#include "proxy/redis/decision_callback.h"

#include <doctest/doctest.h>

#include <array>
#include <memory>

using portico::proxy::policy::RateLimitDecision;
using portico::proxy::redis::DecisionCallback;

TEST_SUITE("redis_callback") {
  TEST_CASE("decision callback: small and large targets, move-only captures, called once") {
    int calls = 0;
    DecisionCallback small([&calls](RateLimitDecision d) { calls += d.allowed ? 1 : 100; });
    CHECK(static_cast<bool>(small));
    small(RateLimitDecision{});
    CHECK(calls == 1);
    CHECK_FALSE(static_cast<bool>(small));  // called: empty, its target released

    std::array<char, 200> big{};
    big[199] = 7;
    int seen = 0;
    DecisionCallback large([big, &seen](const RateLimitDecision&) { seen = big[199]; });
    DecisionCallback moved(std::move(large));
    CHECK_FALSE(static_cast<bool>(large));
    moved(RateLimitDecision{});
    CHECK(seen == 7);

    auto owned = std::make_unique<int>(42);
    int value = 0;
    DecisionCallback moveOnly([p = std::move(owned), &value](RateLimitDecision) { value = *p; });
    DecisionCallback assigned;
    assigned = std::move(moveOnly);
    assigned(RateLimitDecision{});
    CHECK(value == 42);
  }

  TEST_CASE("decision callback: a callback never called releases its target") {
    auto token = std::make_shared<int>(1);
    {
      DecisionCallback inlineOne([token](RateLimitDecision) {});
      std::array<char, 100> pad{};
      DecisionCallback heapOne([token, pad](RateLimitDecision) { (void)pad; });
      CHECK(token.use_count() == 3);
    }
    CHECK(token.use_count() == 1);
  }
}
