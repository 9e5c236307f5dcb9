// One worker: a single-threaded io_context, its own SO_REUSEPORT listeners, its own
// upstream pool and balancer cursors, and a cache of the newest table. Internal to the
// proxy (pulls in Beast); everything here runs on the worker's thread unless noted.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <random>
#include <unordered_set>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>

#include "proxy/policy/route_policies.h"
#include "proxy/runtime/metrics.h"
#include "proxy/redis/async_rate_limiter.h"
#include "proxy/runtime/table_publisher.h"
#include "proxy/server/server.h"
#include "proxy/server/table_runtime.h"
#include "proxy/server/tls.h"
#include "proxy/upstream/balancer.h"
#include "proxy/upstream/upstream_pool.h"

namespace portico::proxy {

struct StreamConnection;

// A client connection as the drain logic, the connection limit and the idle sweep see it.
struct SessionHandle {
  TimedSocket* stream = nullptr;
  bool idle = true;  // waiting for the first byte of a request
  // A plain connection waiting for its next request in its coroutine's frame. The sweep
  // marks it, and cancels its wait when it is still marked one sweep later, so that it
  // parks without a frame (client_connection.cc).
  bool waitingInFrame = false;
  bool sweepMark = false;
  bool parkRequested = false;
};

class Worker {
 public:
  Worker(unsigned id, const ServerOptions& options, const TablePublisher& tables, Metrics& metrics,
         UpstreamRegistry& upstreams, policy::GatewayRuntime& gateway, policy::PolicyCompiler& policies,
         TlsContexts& tls);
  // Closes whatever is left and lets the remaining coroutines unwind, so that none of
  // them outlives the members it uses.
  ~Worker();

  // Main thread, before run(): binds this worker's listeners (`tcp`: layer 4).
  void listen(const boost::asio::ip::tcp::endpoint& http,
              const std::optional<boost::asio::ip::tcp::endpoint>& https,
              const std::vector<boost::asio::ip::tcp::endpoint>& tcp);
  // The worker thread's body; returns when the io_context stops.
  void run();
  // Any thread: stop accepting and close idle connections; sessions close after their
  // current response.
  void beginDrain();
  void stop() { ioc_.stop(); }

  // Worker thread. The newest table; per-route runtime is resolved when it changes
  // (proxy/server/table_runtime.h: unchanged routes keep theirs).
  const RouteTableConstSharedPtr& table();
  // Worker thread: the runtime of the table table() returned last.
  TableRuntimeConstSharedPtr tableRuntime() const { return runtime_; }
  // Worker thread: the runtime of `route`, a route of the table table() returned last.
  const RouteRuntime& routeRuntime(const Route& route);

  const ServerOptions& options() const { return options_; }
  Metrics& metrics() { return metrics_; }
  UpstreamRegistry& upstreams() { return upstreams_; }
  policy::GatewayRuntime& gateway() { return gateway_; }
  // This worker's client for global rate limits; nullptr when no Redis is configured.
  redis::AsyncRateLimiter* redisLimiter() { return redis_.get(); }
  UpstreamPool& pool() { return pool_; }
  boost::asio::io_context& ioc() { return ioc_; }
  bool draining() const { return draining_; }
  std::mt19937_64& random() { return random_; }
  // The session code, once per connection: when its session starts (for TLS, after the
  // handshake) and when it ends. The drain logic closes registered idle sessions.
  void registerSession(SessionHandle* s) { sessions_.insert(s); }
  void unregisterSession(SessionHandle* s) { sessions_.erase(s); }
  // Layer-4 connections (stream_session.h), for the check after a swap.
  void registerStream(StreamConnection* s) { streams_.insert(s); }
  void unregisterStream(StreamConnection* s) { streams_.erase(s); }
  // The SNI-selecting context of the HTTPS listener (for connections a stream route did
  // not take after their ClientHello was read).
  boost::asio::ssl::context& serverTls() { return baseTls_; }

  // A connection's place in the process-wide limit: taken before accept(), then held by
  // the connection's coroutine until it ends, whichever way (a failed TLS handshake too).
  class ConnectionSlot {
   public:
    explicit ConnectionSlot(Worker& worker) : worker_(&worker) {}
    ConnectionSlot(ConnectionSlot&& other) noexcept : worker_(std::exchange(other.worker_, nullptr)) {}
    ConnectionSlot& operator=(ConnectionSlot&&) = delete;
    ~ConnectionSlot() {
      if (worker_) worker_->releaseConnection();
    }

   private:
    Worker* worker_;
  };

  // Body relay buffers, recycled so a request with a body does not allocate one.
  static constexpr size_t kBodyBufferSize = 64 * 1024;
  std::unique_ptr<char[]> takeBodyBuffer();
  void returnBodyBuffer(std::unique_ptr<char[]> buffer);
  // Client read buffers, lent to a connection while it has a request in progress, so that
  // an idle connection holds none.
  boost::beast::flat_buffer takeReadBuffer();
  void returnReadBuffer(boost::beast::flat_buffer buffer);
  // Buffers for the header sections Portico writes, lent to an exchange for its life.
  std::string takeHeadBuffer();
  void returnHeadBuffer(std::string buffer);

 private:
  RuntimeDeps runtimeDeps();
  // A listening socket and its accept state. Accepting is paused when the connection limit
  // is reached or accept() fails (out of file descriptors): the listener then waits on its
  // timer instead of the socket, and pending connections wait in the kernel's backlog.
  enum class ListenerKind { Http, Https, Tcp };
  struct Listener {
    Listener(boost::asio::io_context& ioc, ListenerKind kind) : timer(ioc), kind(kind) {}
    std::optional<boost::asio::ip::tcp::acceptor> acceptor;
    boost::asio::steady_timer timer;
    const ListenerKind kind;
    uint16_t port = 0;  // bound
    bool timerArmed = false;  // waiting on the timer, not on the socket
    std::optional<AcceptPause> pausedFor;  // from the first pause to the next accept
  };
  void waitForConnections(Listener& listener);
  void acceptReady(Listener& listener);
  void pause(Listener& listener, AcceptPause why);
  void endPause(Listener& listener);
  // A connection of this worker closed: a slot and a descriptor are free again.
  void releaseConnection();
  void wakePausedListeners();
  void refreshCertificates();
  void sweepRateLimits();
  void sweepIdleSessions();
  void closeStreamsWithoutRoute();
  template <class F>
  void forEachListener(F f) {
    f(http_);
    f(https_);
    for (auto& l : tcp_) f(*l);
  }
  static int onServerName(SSL* ssl, int* alert, void* arg);
  static int onClientHello(SSL* ssl, int* alert, void* arg);

  unsigned id_;
  const ServerOptions& options_;
  // One thread runs this context: no locking around socket I/O. (Scheduler locking stays:
  // drain posts here from the main thread.)
  // An io_context whose services (and with them every pending handler and suspended
  // coroutine frame) can be shut down while the members below are still alive.
  class Context : public boost::asio::io_context {
   public:
    using io_context::io_context;
    using execution_context::shutdown;
  };
  Context ioc_{BOOST_ASIO_CONCURRENCY_HINT_UNSAFE_IO};
  TableCache tables_;
  uint64_t resolvedVersion_ = 0;
  TableRuntimePtr runtime_;
  Metrics& metrics_;
  UpstreamRegistry& upstreams_;
  policy::GatewayRuntime& gateway_;
  policy::PolicyCompiler& policies_;
  TlsContexts& tls_;
  CertificateStoreConstSharedPtr certificates_;
  boost::asio::ssl::context baseTls_{boost::asio::ssl::context::tls_server};
  Listener http_{ioc_, ListenerKind::Http};
  Listener https_{ioc_, ListenerKind::Https};
  std::vector<std::unique_ptr<Listener>> tcp_;
  static constexpr size_t kAcceptBatch = 16;  // accept() calls per readiness event
  UpstreamPool pool_;
  BalancerCursorStore cursors_;
  RouteRuntimeStore routeRuntimes_;  // owns what runtime_ (and older runtimes in use) point to
  std::unordered_set<SessionHandle*> sessions_;
  std::unordered_set<StreamConnection*> streams_;
  uint64_t streamsCheckedVersion_ = 0;  // table version the streams were last checked against
  std::vector<std::unique_ptr<char[]>> bodyBuffers_;
  std::vector<boost::beast::flat_buffer> readBuffers_;
  std::vector<std::string> headBuffers_;
  std::mt19937_64 random_;
  boost::asio::steady_timer limiterSweepTimer_{ioc_};
  boost::asio::steady_timer idleSweepTimer_{ioc_};
  std::unique_ptr<redis::AsyncRateLimiter> redis_;  // destroyed before ioc_, as it must be
  bool draining_ = false;
};

}  // namespace portico::proxy
