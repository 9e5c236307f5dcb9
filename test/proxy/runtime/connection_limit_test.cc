// The process-wide connection limit: the default derived from the open-file limit, the
// slot accounting the workers share, and what /metrics shows of it.
#include <doctest/doctest.h>

#include <thread>
#include <vector>

#include "proxy/runtime/metrics.h"
#include "proxy/server/server.h"

using namespace portico::proxy;

TEST_SUITE("runtime") {
  TEST_CASE("the default connection limit leaves a descriptor per connection for its upstream and a reserve") {
    CHECK(defaultMaxConnections(1024, 1) == (1024 - 72) / 2);
    CHECK(defaultMaxConnections(1024, 4) == (1024 - 96) / 2);
    CHECK(defaultMaxConnections(1048576, 8) == (1048576 - 128) / 2);
    CHECK(defaultMaxConnections(64, 1) == 1);  // too few descriptors: still serve one
    CHECK(defaultMaxConnections(0, 0) == 1);
  }

  TEST_CASE("a connection limiter hands out exactly its limit, also to threads racing for slots") {
    ConnectionLimiter limiter;
    limiter.setLimit(1000);
    std::vector<std::thread> threads;
    std::atomic<int> taken{0};
    for (int t = 0; t < 4; ++t) {
      threads.emplace_back([&] {
        for (int i = 0; i < 1000; ++i)
          if (limiter.tryAcquire()) taken.fetch_add(1);
      });
    }
    for (auto& t : threads) t.join();
    CHECK(taken.load() == 1000);
    CHECK(limiter.open() == 1000);
    CHECK(limiter.full());
    CHECK_FALSE(limiter.tryAcquire());
    limiter.release();
    CHECK_FALSE(limiter.full());
    CHECK(limiter.tryAcquire());
    limiter.acquire();  // counted whatever the limit
    CHECK(limiter.open() == 1001);
  }

  TEST_CASE("metrics show open connections, the limit, pauses and accept errors") {
    Metrics metrics;
    metrics.connections().setLimit(5);
    CHECK(metrics.connections().tryAcquire());
    CHECK(metrics.connections().tryAcquire());
    metrics.recordAcceptPause(AcceptPause::ConnectionLimit);
    metrics.recordAcceptPause(AcceptPause::OutOfFiles);
    metrics.recordAcceptPause(AcceptPause::OutOfFiles);
    metrics.recordAcceptError(true);
    metrics.listenerPaused(true);
    const std::string text = metrics.render();
    CHECK(text.find("portico_active_connections 2\n") != std::string::npos);
    CHECK(text.find("portico_connections_limit 5\n") != std::string::npos);
    CHECK(text.find("portico_accept_paused_total{reason=\"connection_limit\"} 1\n") != std::string::npos);
    CHECK(text.find("portico_accept_paused_total{reason=\"out_of_files\"} 2\n") != std::string::npos);
    CHECK(text.find("portico_accept_errors_total{reason=\"out_of_files\"} 1\n") != std::string::npos);
    CHECK(text.find("portico_accept_errors_total{reason=\"other\"} 0\n") != std::string::npos);
    CHECK(text.find("portico_listeners_paused 1\n") != std::string::npos);
  }
}
