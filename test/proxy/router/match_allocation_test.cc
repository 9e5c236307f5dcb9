// Matching must not allocate in the common case. This binary replaces the global
// operator new to count allocations while a flag is raised.
#include <doctest/doctest.h>

#include <atomic>
#include <cstdlib>
#include <new>
#include <string>

#include "proxy/config/route_table.h"
#include "test/proxy/router/fake_request.h"
#include "test/support/counting_new.h"

namespace {
std::atomic<bool> gCounting{false};
std::atomic<size_t> gAllocations{0};
void* volatile gEscape = nullptr;  // keeps the probe allocation from being elided
}  // namespace

void portico::testing::countAllocation(std::size_t) noexcept {
  if (gCounting.load(std::memory_order_relaxed)) gAllocations.fetch_add(1, std::memory_order_relaxed);
}

using namespace portico::proxy;
using namespace portico::proxy::testing;

TEST_SUITE("router") {
  TEST_CASE("the allocation counter sees allocations") {
    gAllocations = 0;
    gCounting = true;
    auto* probe = new std::string(64, 'x');
    gEscape = probe;
    gCounting = false;
    delete probe;
    CHECK(gAllocations.load() > 0);
  }

  TEST_CASE("matching allocates nothing, including regex, header and query matches") {
    RouteSpec withQuery = prefix("query", "/api/v1", {"api.example.com"});
    withQuery.query.push_back({"v", "a b"});
    withQuery.headers.push_back({"X-Version", HeaderMatchType::RegularExpression, "[0-9]+"});
    withQuery.methods = {"GET"};
    auto t = buildTable({prefix("root", "/"), exact("exact", "/api/v1/x", {"api.example.com"}),
                         regex("regex", "/r/[a-z]+", {"*.example.com"}), withQuery,
                         prefix("deep", "/api/v1/users/list", {"api.example.com"})});
    REQUIRE(t);
    const FakeRequest requests[] = {
        FakeRequest("api.example.com", "/api/v1/users")
            .withHeader("x-version", "12")
            .withQuery("z=1&v=a+b"),
        FakeRequest("api.example.com", "/api/v1/x"),
        FakeRequest("www.example.com", "/r/abc"),
        FakeRequest("other.org", "/nothing/here"),
        FakeRequest("api.example.com", "/api/v1/users/list/all"),
    };
    const char* expected[] = {"query", "exact", "regex", "root", "deep"};
    // Warm up RE2's lazily built DFA, which allocates on first use per regex.
    for (const FakeRequest& r : requests) (void)t->match(r);

    const Route* found[5] = {};
    gAllocations = 0;
    gCounting = true;
    for (int i = 0; i < 5; ++i) found[i] = t->match(requests[i]);
    gCounting = false;
    CHECK(gAllocations.load() == 0);
    for (int i = 0; i < 5; ++i) {
      REQUIRE(found[i] != nullptr);
      CHECK(found[i]->spec.name == expected[i]);
    }
  }
}
