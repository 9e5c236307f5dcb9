#include "proxy/server/worker.h"

#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <spdlog/spdlog.h>

#include <sys/resource.h>

#include <limits>

#include "proxy/server/client_connection.h"
#include "proxy/server/stream_session.h"

namespace portico::proxy {

namespace net = boost::asio;
using tcp = net::ip::tcp;

Worker::Worker(unsigned id, const ServerOptions& options, const TablePublisher& tables, Metrics& metrics,
               UpstreamRegistry& upstreams, policy::GatewayRuntime& gateway, policy::PolicyCompiler& policies,
               TlsContexts& tls)
    : id_(id), options_(options), tables_(tables), metrics_(metrics), upstreams_(upstreams), gateway_(gateway),
      policies_(policies), tls_(tls),
      pool_(ioc_, options.upstreamMaxIdlePerEndpoint), random_(std::random_device{}()) {
  if (const auto& redis = gateway.redisOptions()) redis_ = std::make_unique<redis::AsyncRateLimiter>(ioc_, *redis);
  tls.configureBase(baseTls_);
  SSL_CTX_set_tlsext_servername_callback(baseTls_.native_handle(), &Worker::onServerName);
  SSL_CTX_set_tlsext_servername_arg(baseTls_.native_handle(), this);
  SSL_CTX_set_client_hello_cb(baseTls_.native_handle(), &Worker::onClientHello, this);
}

Worker::~Worker() {
  draining_ = true;  // the handlers that still run below must not accept again
  boost::system::error_code ignored;
  forEachListener([&](Listener& l) {
    if (l.acceptor) l.acceptor->close(ignored);
    l.timer.cancel();
  });
  for (SessionHandle* session : sessions_) session->stream->socket().close(ignored);
  for (StreamConnection* stream : streams_) closeStream(*stream);
  pool_.closeAll();
  limiterSweepTimer_.cancel();
  idleSweepTimer_.cancel();
  redis_.reset();  // requests waiting on Redis get the failure mode and finish below
  ioc_.restart();
  ioc_.run_for(std::chrono::milliseconds(200));
  // What is still pending now (a coroutine waiting on a slow upstream, say) is destroyed
  // here, while the members its frames refer to (sessions, buffers, pool, limiter) exist;
  // the io_context's own destructor would do it only after they are gone.
  ioc_.shutdown();
}

namespace {
tcp::acceptor bindReusePort(net::io_context& ioc, const tcp::endpoint& endpoint) {
  tcp::acceptor acceptor(ioc);
  acceptor.open(endpoint.protocol());
  acceptor.set_option(net::socket_base::reuse_address(true));
  // Every worker binds the same port; the kernel spreads new connections over them.
  const int one = 1;
  if (::setsockopt(acceptor.native_handle(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0)
    throw std::system_error(errno, std::generic_category(), "SO_REUSEPORT");
  acceptor.bind(endpoint);
  acceptor.listen(net::socket_base::max_listen_connections);
  // acceptReady calls accept() once the socket was readable; the client may have given up
  // in between, and then accept() must say so instead of blocking the worker.
  acceptor.non_blocking(true);
  return acceptor;
}

using Clock = std::chrono::steady_clock;

// How long a listener waits after accept() failed for want of a descriptor (or memory, or
// anything unexpected) before it tries again; a connection of the same worker closing
// wakes it earlier. HAProxy's listeners pause 100 ms on EMFILE/ENFILE/ENOBUFS/ENOMEM and
// wake when a connection is released; nginx waits accept_mutex_delay (500 ms). A retry
// costs one failed accept() per listener, so 10 a second are nothing, while a shorter
// pause brings the listener back sooner once descriptors are free by other means
// (upstream connections closing, another worker's clients leaving).
constexpr auto kOutOfFilesPause = std::chrono::milliseconds(100);
// At the connection limit a closing connection of the same worker wakes its listeners at
// once; one of another worker is noticed by this poll.
constexpr auto kConnectionLimitPoll = std::chrono::milliseconds(50);
// Accept failures and limit pauses are logged at most once per interval for the whole
// process; the next line says how many were not logged.
constexpr auto kLogInterval = std::chrono::seconds(5);

class ThrottledLog {
 public:
  // The number of events not logged since the last line, if this one may be logged.
  std::optional<uint64_t> admit() {
    const int64_t now = Clock::now().time_since_epoch().count();
    int64_t next = next_.load(std::memory_order_relaxed);
    if (now < next ||
        !next_.compare_exchange_strong(next, now + Clock::duration(kLogInterval).count(), std::memory_order_relaxed)) {
      suppressed_.fetch_add(1, std::memory_order_relaxed);
      return std::nullopt;
    }
    return suppressed_.exchange(0, std::memory_order_relaxed);
  }

 private:
  std::atomic<int64_t> next_{std::numeric_limits<int64_t>::min()};
  std::atomic<uint64_t> suppressed_{0};
};
ThrottledLog acceptFailureLog;
ThrottledLog connectionLimitLog;

std::string suppressedNote(uint64_t n) {
  return n ? fmt::format(" ({} more since the last message)", n) : std::string();
}

bool outOfFiles(const boost::system::error_code& ec) {
  if (ec.category() != boost::system::system_category()) return false;
  const int e = ec.value();
  return e == EMFILE || e == ENFILE || e == ENOBUFS || e == ENOMEM;
}

std::string fileLimitText() {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) return "unknown";
  return std::to_string(limit.rlim_cur);
}
}  // namespace

void Worker::listen(const tcp::endpoint& http, const std::optional<tcp::endpoint>& https,
                    const std::vector<tcp::endpoint>& tcp) {
  http_.acceptor.emplace(bindReusePort(ioc_, http));
  if (https) https_.acceptor.emplace(bindReusePort(ioc_, *https));
  for (const tcp::endpoint& endpoint : tcp) {
    tcp_.push_back(std::make_unique<Listener>(ioc_, ListenerKind::Tcp));
    tcp_.back()->acceptor.emplace(bindReusePort(ioc_, endpoint));
  }
  forEachListener([](Listener& l) {
    if (l.acceptor) l.port = l.acceptor->local_endpoint().port();
  });
}

void Worker::run() {
  forEachListener([this](Listener& l) {
    if (l.acceptor) waitForConnections(l);
  });
  pool_.startSweeping();
  if (id_ == 0) sweepRateLimits();
  sweepIdleSessions();
  ioc_.run();
}

// Every 500 ms: a plain connection found waiting in its coroutine's frame at two sweeps in
// a row (idle for 0.5 to 1 s) is told to park, which frees the frame. One timer per worker
// instead of a deadline per connection; a busy connection is never woken by it.
void Worker::sweepIdleSessions() {
  idleSweepTimer_.expires_after(std::chrono::milliseconds(500));
  idleSweepTimer_.async_wait([this](boost::system::error_code ec) {
    if (ec || draining_) return;
    for (SessionHandle* session : sessions_) {
      if (!session->waitingInFrame) continue;
      if (!session->sweepMark) {
        session->sweepMark = true;
        continue;
      }
      session->parkRequested = true;
      boost::system::error_code ignored;
      session->stream->socket().cancel(ignored);
    }
    closeStreamsWithoutRoute();
    sweepIdleSessions();
  });
}

// Swaps keep every layer-4 connection whose route is still in the table (by name: its
// backends may have changed, the connection stays with the endpoint it has). The check
// runs on the sweep, so a removed route's connections close within about half a second.
void Worker::closeStreamsWithoutRoute() {
  if (streams_.empty()) return;
  const RouteTableConstSharedPtr& current = table();
  if (!current || current->version() == streamsCheckedVersion_) return;
  streamsCheckedVersion_ = current->version();
  std::vector<StreamConnection*> orphans;
  for (StreamConnection* stream : streams_)
    if (!current->streamRoute(streamRouteName(*stream))) orphans.push_back(stream);
  for (StreamConnection* stream : orphans) {
    metrics_.recordStream(StreamOutcome::ClosedByRouteRemoval);
    closeStream(*stream);
  }
}

// Idle rate-limit buckets are freed every 10 s (by one worker: the limiter is shared).
void Worker::sweepRateLimits() {
  limiterSweepTimer_.expires_after(std::chrono::seconds(10));
  limiterSweepTimer_.async_wait([this](boost::system::error_code ec) {
    if (ec) return;
    gateway_.localLimiter().sweep(std::chrono::steady_clock::now());
    sweepRateLimits();
  });
}

// The accept path. The listener waits for readability and then calls accept() itself, so
// that a slot of the connection limit is taken *before* a connection is accepted (as
// HAProxy does): at the limit nothing is accepted, the listener pauses, and new clients
// wait in the kernel's backlog until a connection closes. Accepting and closing at once
// instead would cost a descriptor and two system calls per refused client while the
// process is already at its limit, and would turn clients that could have waited into
// errors; the connections already open are served either way.
void Worker::waitForConnections(Listener& l) {
  if (draining_ || !l.acceptor || !l.acceptor->is_open()) return;
  l.acceptor->async_wait(tcp::acceptor::wait_read, [this, &l](boost::system::error_code ec) {
    if (ec == net::error::operation_aborted || draining_) return;
    if (ec) {
      pause(l, AcceptPause::AcceptError);
      if (auto suppressed = acceptFailureLog.admit())
        spdlog::error("worker {}: waiting for connections failed: {}{}", id_, ec.message(), suppressedNote(*suppressed));
      return;
    }
    acceptReady(l);
  });
}

void Worker::acceptReady(Listener& l) {
  auto& limiter = metrics_.connections();
  for (size_t i = 0; i < kAcceptBatch; ++i) {
    if (!limiter.tryAcquire()) {
      pause(l, AcceptPause::ConnectionLimit);
      if (auto suppressed = connectionLimitLog.admit())
        spdlog::warn("connection limit reached ({} open, --max-connections {}): not accepting until connections "
                     "close{}", limiter.open(), limiter.limit(), suppressedNote(*suppressed));
      return;
    }
    boost::system::error_code ec;
    tcp::socket socket = l.acceptor->accept(ec);
    if (ec) {
      limiter.release();  // quietly: waking the listeners here would undo the pause below
      if (ec == net::error::would_block || ec == net::error::try_again) {  // nothing left
        endPause(l);
        break;
      }
      const bool noFiles = outOfFiles(ec);
      metrics_.recordAcceptError(noFiles);
      pause(l, noFiles ? AcceptPause::OutOfFiles : AcceptPause::AcceptError);
      if (auto suppressed = acceptFailureLog.admit())
        spdlog::error("worker {}: accept failed: {} (open-file limit {}, {} connections open); pausing this "
                      "listener, retrying every {} ms or when a connection closes{}",
                      id_, ec.message(), fileLimitText(), limiter.open(), kOutOfFilesPause.count(),
                      suppressedNote(*suppressed));
      return;
    }
    endPause(l);
    ConnectionSlot slot(*this);  // the one taken above, now held by the connection
    switch (l.kind) {
      case ListenerKind::Http:
        startHttpSession(*this, std::move(socket), std::move(slot));
        break;
      case ListenerKind::Https:
        // table(): so that SNI selects among the newest certificates and stream routes.
        if (const auto& t = table(); t && t->routesBySni(l.port)) {
          startStreamSession(*this, std::move(socket), std::move(slot), l.port, /*terminateOtherwise=*/true);
        } else {
          startHttpsSession(*this, std::move(socket), baseTls_, std::move(slot));
        }
        break;
      case ListenerKind::Tcp:
        startStreamSession(*this, std::move(socket), std::move(slot), l.port, /*terminateOtherwise=*/false);
        break;
    }
  }
  waitForConnections(l);
}

void Worker::pause(Listener& l, AcceptPause why) {
  if (l.pausedFor != why) {
    if (!l.pausedFor) metrics_.listenerPaused(true);
    l.pausedFor = why;
    metrics_.recordAcceptPause(why);
  }
  l.timerArmed = true;
  l.timer.expires_after(why == AcceptPause::ConnectionLimit ? Clock::duration(kConnectionLimitPoll)
                                                            : Clock::duration(kOutOfFilesPause));
  // Also called when wakePausedListeners cancels the timer: resume either way.
  l.timer.async_wait([this, &l](boost::system::error_code) {
    l.timerArmed = false;
    if (draining_) return;
    acceptReady(l);
  });
}

void Worker::endPause(Listener& l) {
  if (!l.pausedFor) return;
  l.pausedFor.reset();
  metrics_.listenerPaused(false);
}

void Worker::wakePausedListeners() {
  forEachListener([](Listener& l) {
    if (l.timerArmed) l.timer.cancel();
  });
}

void Worker::releaseConnection() {
  metrics_.connections().release();
  wakePausedListeners();
}

// Before the version is negotiated (the SNI callback comes after): a host whose certificate
// asks for TLS 1.3 only gets it here.
int Worker::onClientHello(SSL* ssl, int*, void* arg) {
  auto* self = static_cast<Worker*>(arg);
  const unsigned char* ext = nullptr;
  size_t length = 0;
  std::string_view name;
  if (SSL_client_hello_get0_ext(ssl, TLSEXT_TYPE_server_name, &ext, &length) == 1)
    name = serverNameExtensionHost({ext, length});
  SSL_CTX* ctx = self->certificates_ ? self->certificates_->select(name) : nullptr;
  if (ctx && SSL_CTX_get_min_proto_version(ctx) == TLS1_3_VERSION) SSL_set_min_proto_version(ssl, TLS1_3_VERSION);
  return SSL_CLIENT_HELLO_SUCCESS;
}

int Worker::onServerName(SSL* ssl, int*, void* arg) {
  auto* self = static_cast<Worker*>(arg);
  const char* name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
  SSL_CTX* ctx = self->certificates_ ? self->certificates_->select(name ? name : "") : nullptr;
  if (!ctx) return SSL_TLSEXT_ERR_ALERT_FATAL;  // no certificate at all for this listener
  SSL_set_SSL_CTX(ssl, ctx);
  // The verify mode is the connection's own, copied from the base context when it was made:
  // the chosen certificate's client-auth settings apply only if set here.
  SSL_set_verify(ssl, SSL_CTX_get_verify_mode(ctx), SSL_CTX_get_verify_callback(ctx));
  return SSL_TLSEXT_ERR_OK;
}

RuntimeDeps Worker::runtimeDeps() { return RuntimeDeps{policies_, metrics_, upstreams_, cursors_, routeRuntimes_}; }

const RouteRuntime& Worker::routeRuntime(const Route& route) {
  if (const RouteRuntime& built = runtime_->routes[route.index]; built.balancer) return built;  // every request but the first
  RuntimeDeps deps = runtimeDeps();
  return proxy::routeRuntime(*runtime_, route, deps);
}

const RouteTableConstSharedPtr& Worker::table() {
  const RouteTableConstSharedPtr& table = tables_.refresh();
  if (table && table->version() != resolvedVersion_) {
    // Once per table version: keeps the runtime of unchanged routes; the others are built
    // on their first request.
    RuntimeDeps deps = runtimeDeps();
    ResolvedTable resolved = resolve(*table, runtime_.get(), deps);
    runtime_ = std::move(resolved.runtime);
    for (const std::string& address : resolved.unusedEndpoints) pool_.closeIdle(address);
    certificates_ = tls_.forTable(*table);
    resolvedVersion_ = table->version();
  }
  return table;
}

void Worker::beginDrain() {
  net::post(ioc_, [this] {
    draining_ = true;
    boost::system::error_code ignored;
    forEachListener([&](Listener& l) {
      if (l.acceptor) l.acceptor->close(ignored);
      l.timer.cancel();
      endPause(l);
    });
    for (SessionHandle* session : sessions_) {
      if (session->idle) session->stream->socket().close(ignored);
    }
  });
}

std::unique_ptr<char[]> Worker::takeBodyBuffer() {
  if (bodyBuffers_.empty()) return std::make_unique<char[]>(kBodyBufferSize);
  auto buffer = std::move(bodyBuffers_.back());
  bodyBuffers_.pop_back();
  return buffer;
}

void Worker::returnBodyBuffer(std::unique_ptr<char[]> buffer) {
  if (bodyBuffers_.size() < 64) bodyBuffers_.push_back(std::move(buffer));
}

boost::beast::flat_buffer Worker::takeReadBuffer() {
  if (readBuffers_.empty()) return boost::beast::flat_buffer();
  boost::beast::flat_buffer buffer = std::move(readBuffers_.back());
  readBuffers_.pop_back();
  return buffer;
}

std::string Worker::takeHeadBuffer() {
  if (headBuffers_.empty()) {
    std::string buffer;
    buffer.reserve(1024);  // the request's and then the response's header
    return buffer;
  }
  std::string buffer = std::move(headBuffers_.back());
  headBuffers_.pop_back();
  return buffer;
}

void Worker::returnHeadBuffer(std::string buffer) {
  if (buffer.capacity() > 16 * 1024 || headBuffers_.size() >= 256) return;
  buffer.clear();
  headBuffers_.push_back(std::move(buffer));
}

void Worker::returnReadBuffer(boost::beast::flat_buffer buffer) {
  // A buffer a huge header made large is not kept.
  if (buffer.capacity() == 0 || buffer.capacity() > 64 * 1024 || readBuffers_.size() >= 256) return;
  buffer.clear();
  readBuffers_.push_back(std::move(buffer));
}

}  // namespace portico::proxy
