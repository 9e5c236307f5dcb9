#include <doctest/doctest.h>

#include <atomic>
#include <thread>

#include "proxy/runtime/table_publisher.h"

using namespace portico;
using namespace portico::proxy;

namespace {
RouteTableConstSharedPtr tableWithVersion(uint64_t version, std::string routeName = "ns/r/a") {
  RouteTableSpec spec;
  RouteSpec route;
  route.name = std::move(routeName);
  spec.routes.push_back(route);
  auto table = RouteTable::build(spec, version);
  REQUIRE(table.has_value());
  return *table;
}
}  // namespace

TEST_SUITE("runtime") {
  TEST_CASE("a cache sees nothing before the first publish and the newest table after") {
    TablePublisher publisher;
    TableCache cache(publisher);
    CHECK(cache.refresh() == nullptr);
    publisher.publish(tableWithVersion(1));
    REQUIRE(cache.refresh() != nullptr);
    CHECK(cache.refresh()->version() == 1);
    publisher.publish(tableWithVersion(2));
    CHECK(cache.refresh()->version() == 2);
  }

  TEST_CASE("a request pinning the old table keeps it alive after a swap") {
    TablePublisher publisher;
    TableCache cache(publisher);
    publisher.publish(tableWithVersion(1, "old/route/a"));
    RouteTableConstSharedPtr pinned = cache.refresh();
    publisher.publish(tableWithVersion(2, "new/route/a"));
    CHECK(cache.refresh()->routes().front().spec.name == "new/route/a");
    CHECK(pinned->routes().front().spec.name == "old/route/a");
  }

  TEST_CASE("readers on other threads only ever see complete, increasing versions during rapid swaps") {
    TablePublisher publisher;
    publisher.publish(tableWithVersion(1));
    std::atomic<bool> done{false};
    std::atomic<int> regressions{0};
    std::vector<std::thread> readers;
    for (int i = 0; i < 2; ++i) {
      readers.emplace_back([&] {
        TableCache cache(publisher);
        uint64_t last = 0;
        while (!done) {
          const auto& table = cache.refresh();
          if (table->version() < last || table->routes().size() != 1) ++regressions;
          last = table->version();
        }
      });
    }
    for (uint64_t v = 2; v <= 2000; ++v) publisher.publish(tableWithVersion(v));
    done = true;
    for (auto& t : readers) t.join();
    CHECK(regressions == 0);
    CHECK(publisher.version() == 2000);
  }
}

TEST_SUITE("runtime") {
  TEST_CASE("a replaced table is freed by a later publish, not by the worker that lets go last") {
    TablePublisher publisher;
    TableCache cache(publisher);
    publisher.publish(tableWithVersion(1));
    std::weak_ptr<const RouteTable> first = cache.refresh();
    publisher.publish(tableWithVersion(2));
    cache.refresh();  // the worker moves on: its reference to version 1 goes
    CHECK_FALSE(first.expired());  // kept by the publisher
    publisher.publish(tableWithVersion(3));
    CHECK(first.expired());  // freed by the publishing thread
  }

  TEST_CASE("a table still in use stays retired until its last user is gone") {
    TablePublisher publisher;
    publisher.publish(tableWithVersion(1));
    RouteTableConstSharedPtr pinned = publisher.current();  // a request on version 1
    std::weak_ptr<const RouteTable> first = pinned;
    publisher.publish(tableWithVersion(2));
    publisher.publish(tableWithVersion(3));
    CHECK_FALSE(first.expired());
    CHECK(pinned->version() == 1);
    pinned.reset();
    CHECK_FALSE(first.expired());
    publisher.publish(tableWithVersion(4));
    CHECK(first.expired());
  }
}
