// Per-worker pools of keep-alive connections to upstream endpoints. Internal to the
// proxy's Beast translation units (this header pulls in Beast).
//
// Keyed by endpoint address ("host:port"), not by route or table, so a table swap keeps
// every warm connection of endpoints that still exist; connections of endpoints that
// disappeared simply idle out. Worker thread only: no locks.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>

#include "proxy/net/flex_stream.h"
#include "proxy/upstream/upstream_state.h"

namespace portico::proxy {

struct UpstreamConnection {
  // Beast reads as much as the buffer has room for (at least 512 bytes), so the room
  // decides how many reads a response body takes: 32 KiB keeps a 64 KiB body at a few.
  static constexpr size_t kReadBufferBytes = 32 * 1024;
  // Counted in `backend`'s open connections (circuit breaker) for its whole life.
  UpstreamConnection(boost::asio::io_context& ioc, BackendStatePtr backend)
      : stream(ioc), backend(std::move(backend)) {
    buffer.reserve(kReadBufferBytes);
    this->backend->connections.fetch_add(1, std::memory_order_relaxed);
  }
  ~UpstreamConnection() { backend->connections.fetch_sub(1, std::memory_order_relaxed); }
  UpstreamConnection(const UpstreamConnection&) = delete;
  UpstreamConnection& operator=(const UpstreamConnection&) = delete;
  FlexStream stream;  // TLS on top for an https upstream
  BackendStatePtr backend;
  std::shared_ptr<UpstreamTls> tls;  // the context it was made with; null: plaintext
  boost::beast::flat_buffer buffer;  // bytes read past the previous response
  std::string endpoint;              // "host:port", the pool key
  bool reused = false;               // came out of the pool: may have been closed by the peer
  std::chrono::steady_clock::time_point idleSince;
  std::chrono::steady_clock::time_point idleDeadline;
};
using UpstreamConnectionPtr = std::unique_ptr<UpstreamConnection>;

class UpstreamPool {
 public:
  UpstreamPool(boost::asio::io_context& ioc, size_t maxIdlePerEndpoint);

  // A pooled connection that still looks open and was made with `tls` (null: plaintext),
  // or nullptr. The newest first, so that the oldest idle out when traffic drops.
  UpstreamConnectionPtr take(const std::string& endpoint, const UpstreamTls* tls = nullptr);
  // Keeps `conn` for reuse until `idle` passes; closes it if the endpoint's pool is full.
  void put(UpstreamConnectionPtr conn, std::chrono::milliseconds idle);
  // Starts the once-a-second sweep that closes expired idle connections.
  void startSweeping();
  void closeAll();
  // Closes the idle connections of endpoints the newest table no longer names.
  template <class KeepPredicate>
  void retainIf(KeepPredicate keep) {
    std::erase_if(idle_, [&](const auto& entry) { return !keep(entry.first); });
  }
  // Closes the idle connections of one endpoint (no route names it any more).
  void closeIdle(const std::string& endpoint) { idle_.erase(endpoint); }
  size_t idleCount() const;

 private:
  void sweep();
  boost::asio::io_context& ioc_;
  size_t maxIdlePerEndpoint_;
  std::unordered_map<std::string, std::vector<UpstreamConnectionPtr>> idle_;
  boost::asio::steady_timer sweepTimer_;
};

}  // namespace portico::proxy
