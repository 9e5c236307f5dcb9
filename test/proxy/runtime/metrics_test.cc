#include <doctest/doctest.h>

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
}
