// Process-wide Prometheus metrics. Counters are relaxed atomics bumped by any worker;
// the admin thread renders them. Per-route counters live in a registry keyed by route
// name, so they survive table swaps; workers resolve a route's counters once per table
// version (routeStats) and keep the raw pointer, which stays valid for the process.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>

namespace portico::proxy {

struct RouteStats {
  // Responses by status class: index 1..5 for 1xx..5xx.
  std::array<std::atomic<uint64_t>, 6> responsesByClass{};
};

enum class UpstreamError { ConnectFailure, Reset, Timeout };

class Metrics {
 public:
  static constexpr std::array<double, 14> kLatencyBuckets{
      0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};

  // Any thread; the pointer lives as long as the Metrics object. Takes a mutex: call it
  // once per table version, not per request.
  RouteStats* routeStats(const std::string& routeName);

  // Any worker, per request.
  void recordResponse(RouteStats* route, unsigned status, std::chrono::nanoseconds latency);
  void recordUpstreamError(UpstreamError kind);

  void connectionOpened() { activeConnections_.fetch_add(1, std::memory_order_relaxed); }
  void connectionClosed() { activeConnections_.fetch_sub(1, std::memory_order_relaxed); }
  int64_t activeConnections() const { return activeConnections_.load(std::memory_order_relaxed); }

  // Controller thread.
  void setTableVersion(uint64_t v) { tableVersion_.store(v, std::memory_order_relaxed); }
  void recordReload(bool ok) { (ok ? reloads_ : reloadErrors_).fetch_add(1, std::memory_order_relaxed); }
  void recordPublishLatency(std::chrono::nanoseconds latency);

  // Prometheus text exposition format 0.0.4.
  std::string render() const;

 private:
  mutable std::mutex mu_;
  std::map<std::string, std::unique_ptr<RouteStats>> routes_;  // node-stable pointers
  std::array<std::atomic<uint64_t>, kLatencyBuckets.size() + 1> latencyBuckets_{};
  std::atomic<uint64_t> latencyCount_{0};
  std::atomic<uint64_t> latencySumMicros_{0};
  std::array<std::atomic<uint64_t>, 3> upstreamErrors_{};
  std::atomic<int64_t> activeConnections_{0};
  std::atomic<uint64_t> tableVersion_{0};
  std::atomic<uint64_t> reloads_{0};
  std::atomic<uint64_t> reloadErrors_{0};
  std::atomic<uint64_t> publishCount_{0};
  std::atomic<uint64_t> publishLatencySumMicros_{0};
};

}  // namespace portico::proxy
