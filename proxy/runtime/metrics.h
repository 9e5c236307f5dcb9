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

// How a layer-4 connection ended up (proxy/server/stream_session.cc).
enum class StreamOutcome { Proxied, NoRoute, OverLimit, NoEndpoint, ConnectFailure, ClosedByRouteRemoval };

// Why a listener stopped accepting for a while.
enum class AcceptPause { ConnectionLimit, OutOfFiles, AcceptError };

// The process-wide connection budget (--max-connections), shared by every worker. A worker
// takes a slot before it calls accept() and the slot comes back when the connection closes:
// one atomic add and one subtract per connection, never per request. Its count is what
// portico_active_connections shows.
class ConnectionLimiter {
 public:
  void setLimit(int64_t limit) { limit_.store(limit, std::memory_order_relaxed); }
  int64_t limit() const { return limit_.load(std::memory_order_relaxed); }
  int64_t open() const { return open_.load(std::memory_order_relaxed); }
  bool full() const { return open() >= limit(); }

  // Takes a slot if one is free. Two workers racing for the last slot: one gets it.
  bool tryAcquire() {
    const int64_t max = limit();
    int64_t n = open_.load(std::memory_order_relaxed);
    while (n < max) {
      if (open_.compare_exchange_weak(n, n + 1, std::memory_order_relaxed)) return true;
    }
    return false;
  }
  // Takes a slot whatever the count (a connection that exists already).
  void acquire() { open_.fetch_add(1, std::memory_order_relaxed); }
  void release() { open_.fetch_sub(1, std::memory_order_relaxed); }

 private:
  // Its own cache line: every worker writes it, and the Metrics counters around it are
  // written per request.
  alignas(64) std::atomic<int64_t> open_{0};
  std::atomic<int64_t> limit_{INT64_MAX};
};

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

  // Open client connections, counted by the workers in connections() (from accept to
  // close, TLS handshakes included).
  int64_t activeConnections() const { return connections_.open(); }
  ConnectionLimiter& connections() { return connections_; }
  const ConnectionLimiter& connections() const { return connections_; }

  // Any worker, on the accept path only (never per connection in the normal case).
  void recordAcceptPause(AcceptPause why) {
    acceptPauses_[static_cast<size_t>(why)].fetch_add(1, std::memory_order_relaxed);
  }
  void recordAcceptError(bool outOfFiles) {
    (outOfFiles ? acceptErrorsOutOfFiles_ : acceptErrorsOther_).fetch_add(1, std::memory_order_relaxed);
  }
  void listenerPaused(bool paused) { listenersPaused_.fetch_add(paused ? 1 : -1, std::memory_order_relaxed); }

  // Any worker, once or twice per layer-4 connection.
  void recordStream(StreamOutcome outcome) {
    streamOutcomes_[static_cast<size_t>(outcome)].fetch_add(1, std::memory_order_relaxed);
  }
  void recordStreamBytes(uint64_t fromClient, uint64_t toClient) {
    streamBytesFromClients_.fetch_add(fromClient, std::memory_order_relaxed);
    streamBytesToClients_.fetch_add(toClient, std::memory_order_relaxed);
  }

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
  ConnectionLimiter connections_;
  std::array<std::atomic<uint64_t>, 3> acceptPauses_{};
  std::atomic<uint64_t> acceptErrorsOutOfFiles_{0};
  std::atomic<uint64_t> acceptErrorsOther_{0};
  std::atomic<int64_t> listenersPaused_{0};
  std::array<std::atomic<uint64_t>, 6> streamOutcomes_{};
  std::atomic<uint64_t> streamBytesFromClients_{0};
  std::atomic<uint64_t> streamBytesToClients_{0};
  std::atomic<uint64_t> tableVersion_{0};
  std::atomic<uint64_t> reloads_{0};
  std::atomic<uint64_t> reloadErrors_{0};
  std::atomic<uint64_t> publishCount_{0};
  std::atomic<uint64_t> publishLatencySumMicros_{0};
};

}  // namespace portico::proxy
