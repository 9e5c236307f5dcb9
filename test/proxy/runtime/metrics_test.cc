#include <doctest/doctest.h>

#include <memory>
#include <string>
#include <vector>

#include "proxy/runtime/metrics.h"

using namespace portico::proxy;

TEST_SUITE("runtime") {
  TEST_CASE("metrics render per-route status classes, the histogram and reload counters") {
    Metrics metrics;
    RouteStats* route = metrics.routeStats("shop/orders/read");
    CHECK(metrics.routeStats("shop/orders/read") == route);  // stable across table versions
    metrics.recordResponse(route, 200, std::chrono::milliseconds(3));
    metrics.recordResponse(route, 503, std::chrono::milliseconds(30));
    metrics.recordResponse(nullptr, 404, std::chrono::microseconds(100));
    metrics.recordReload(true);
    metrics.recordReload(false);
    metrics.setTableVersion(7);
    const std::string text = metrics.render();
    CHECK(text.find("portico_requests_total{route=\"shop/orders/read\",code=\"2xx\"} 1\n") != std::string::npos);
    CHECK(text.find("portico_requests_total{route=\"shop/orders/read\",code=\"5xx\"} 1\n") != std::string::npos);
    CHECK(text.find("portico_request_duration_seconds_bucket{le=\"0.005\"} 2\n") != std::string::npos);
    CHECK(text.find("portico_request_duration_seconds_count 3\n") != std::string::npos);
    CHECK(text.find("portico_table_version 7\n") != std::string::npos);
    CHECK(text.find("portico_config_reload_errors_total 1\n") != std::string::npos);
  }

#if !defined(__SANITIZE_ADDRESS__)  // ASan's allocator is not the one mallinfo2 reports on
  TEST_CASE("the heap gauges follow what the process allocates") {
    auto allocated = [] {
      const std::string text = Metrics().render();
      const std::string name = "portico_heap_allocated_bytes ";
      const size_t at = text.find("\n" + name);
      REQUIRE(at != std::string::npos);
      CHECK(text.find("\nportico_heap_free_bytes ") != std::string::npos);
      return std::stod(text.substr(at + 1 + name.size()));
    };
    const double before = allocated();
    auto block = std::make_unique<std::vector<char>>(64 << 20, 'x');  // 64 MiB, kept
    const double after = allocated();
    CHECK(after - before >= 60.0 * (1 << 20));
    CHECK(block->back() == 'x');
  }
#endif
}
