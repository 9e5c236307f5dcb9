#include "proxy/server/stream_session.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <memory>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include "proxy/net/timed_socket.h"
#include "proxy/server/client_connection.h"
#include "proxy/server/client_hello.h"
#include "proxy/server/upstream_connect.h"
#include "proxy/upstream/outlier.h"

namespace portico::proxy {

namespace net = boost::asio;
using tcp = net::ip::tcp;
using error_code = boost::system::error_code;

// One carried connection, shared by its two pumps; the last one to end frees it.
struct StreamConnection {
  StreamConnection(Worker& worker, tcp::socket socket, Worker::ConnectionSlot slot)
      : worker(worker), slot(std::move(slot)), client(std::move(socket)), upstream(worker.ioc()) {}
  ~StreamConnection() {
    if (registered) worker.unregisterStream(this);
    if (endpoint) endpoint->inFlight.fetch_sub(1, std::memory_order_relaxed);
    if (backend) backend->connections.fetch_sub(1, std::memory_order_relaxed);
    if (routeState) routeState->activeRequests.fetch_sub(1, std::memory_order_relaxed);
    // Only carried connections moved bytes (not one handed to TLS termination).
    if (fromClient || toClient) worker.metrics().recordStreamBytes(fromClient, toClient);
  }
  StreamConnection(const StreamConnection&) = delete;
  StreamConnection& operator=(const StreamConnection&) = delete;

  // Bytes moved: both deadlines move (a store each; the timers re-arm lazily).
  void touch() {
    client.expires_after(idleTimeout);
    upstream.expires_after(idleTimeout);
  }
  void close() {
    client.close();
    upstream.close();
  }

  Worker& worker;
  Worker::ConnectionSlot slot;
  TimedSocket client;
  TimedSocket upstream;
  std::string route;  // name, once chosen
  Millis idleTimeout{0};
  RouteUpstreamStatePtr routeState;  // set when the route limits its connections
  EndpointStatePtr endpoint;         // set once connected: counted in its inFlight
  BackendStatePtr backend;           // and in its backend's connections
  uint64_t fromClient = 0;
  uint64_t toClient = 0;
  bool registered = false;
};

const std::string& streamRouteName(const StreamConnection& connection) { return connection.route; }

void closeStream(StreamConnection& connection) { connection.close(); }

namespace {

using StreamPtr = std::shared_ptr<StreamConnection>;
constexpr size_t kMaxConnectAttempts = 3;  // endpoints tried for one connection

// Copies `from` to `to` until `from` ends. Reads until the socket has nothing more, then
// waits for readability without a buffer. An end of input is passed on as a half-close
// (the other direction may still carry an answer); an error or the idle timeout ends both.
net::awaitable<void> pump(StreamPtr conn, bool fromClient) {
  TimedSocket& from = fromClient ? conn->client : conn->upstream;
  TimedSocket& to = fromClient ? conn->upstream : conn->client;
  uint64_t& moved = fromClient ? conn->fromClient : conn->toClient;
  Worker& worker = conn->worker;
  error_code ec;
  while (!ec) {
    std::unique_ptr<char[]> buffer = worker.takeBodyBuffer();
    for (;;) {
      const size_t n = from.socket().read_some(net::buffer(buffer.get(), Worker::kBodyBufferSize), ec);
      if (ec == net::error::would_block || ec == net::error::try_again) {
        ec = {};
        break;
      }
      if (ec) break;
      moved += n;
      conn->touch();
      co_await net::async_write(to, net::buffer(buffer.get(), n), net::redirect_error(net::use_awaitable, ec));
      if (ec) break;
    }
    worker.returnBodyBuffer(std::move(buffer));
    if (ec) break;
    co_await from.async_wait_readable(net::redirect_error(net::use_awaitable, ec));
  }
  error_code ignored;
  if (ec == net::error::eof) {
    to.socket().shutdown(tcp::socket::shutdown_send, ignored);
  } else {
    conn->close();
  }
}

// The endpoint state behind a pick, as the shared pointer the connection keeps.
EndpointStatePtr sharedEndpoint(const RouteBalancer& balancer, const Pick& pick) {
  for (const EndpointStatePtr& state : balancer.endpointStates(pick.backendIndex))
    if (state.get() == pick.endpointState) return state;
  return nullptr;
}

net::awaitable<void> serveStream(StreamPtr conn, uint16_t port, bool terminateOtherwise) {
  Worker& worker = conn->worker;
  std::string serverName;
  if (const auto& table = worker.table(); table && table->routesBySni(port)) {
    const auto deadline = std::chrono::steady_clock::now() + worker.options().headerTimeout;
    PeekedHello hello = co_await peekClientHello(conn->client.socket(), deadline);
    if (hello.status == PeekedHello::Status::Closed || hello.status == PeekedHello::Status::TimedOut) co_return;
    serverName = std::move(hello.serverName);
  }
  // After the wait: the newest table (its runtime is the one routeRuntime() fills).
  RouteTableConstSharedPtr table = worker.table();
  const Route* route = table ? table->matchStream(port, serverName) : nullptr;
  if (!route) {
    if (terminateOtherwise) {
      startHttpsSession(worker, std::move(conn->client.socket()), worker.serverTls(), std::move(conn->slot));
    } else {
      worker.metrics().recordStream(StreamOutcome::NoRoute);
    }
    co_return;
  }
  const RouteSpec& spec = *route->sharedSpec();
  const StreamSpec& stream = *spec.stream;
  const RouteRuntime& runtime = worker.routeRuntime(*route);
  TableRuntimeConstSharedPtr pinned = worker.tableRuntime();  // keeps `runtime` valid while connecting
  conn->route = spec.name;
  conn->idleTimeout = stream.idleTimeout;
  if (stream.maxConnections) {
    conn->routeState = worker.upstreams().route(spec.name);
    if (conn->routeState->activeRequests.fetch_add(1, std::memory_order_relaxed) >= stream.maxConnections) {
      worker.metrics().recordStream(StreamOutcome::OverLimit);
      co_return;  // the destructor gives the place back
    }
  }

  const std::string clientIp = peerAddress(conn->client.socket());
  std::vector<const EndpointState*> tried;
  PickRequest request;
  request.tried = &tried;
  if (spec.loadBalancing == LoadBalancingPolicy::ConsistentHash) request.hashKey = balancingHash(clientIp);
  error_code ec = net::error::host_unreachable;
  for (size_t attempt = 0; attempt < kMaxConnectAttempts; ++attempt) {
    request.now = nowNanos();
    const Pick pick = runtime.balancer->pick(request, *runtime.cursors, worker.random());
    if (!pick || (attempt > 0 && std::find(tried.begin(), tried.end(), pick.endpointState) != tried.end())) break;
    tried.push_back(pick.endpointState);
    error_code ignored;
    conn->upstream.socket().close(ignored);
    conn->upstream.expires_after(spec.timeouts.connect);
    co_await connectSocket(worker, conn->upstream, *pick.endpoint, ec);
    if (spec.outlierDetection &&
        recordOutcome(*spec.outlierDetection, *pick.endpointState, *pick.backendState,
                      runtime.balancer->endpointStates(pick.backendIndex),
                      ec ? UpstreamOutcome::GatewayFailure : UpstreamOutcome::Success, nowNanos())) {
      worker.upstreams().recordEjection();
      spdlog::warn("outlier detection: ejected {} (route {})", pick.endpointState->address, spec.name);
    }
    if (ec) {
      worker.metrics().recordUpstreamError(UpstreamError::ConnectFailure);
      continue;
    }
    conn->endpoint = sharedEndpoint(*runtime.balancer, pick);
    conn->backend = runtime.balancer->backendState(pick.backendIndex);
    break;
  }
  if (!conn->endpoint) {
    worker.metrics().recordStream(tried.empty() ? StreamOutcome::NoEndpoint : StreamOutcome::ConnectFailure);
    if (!tried.empty())
      spdlog::warn("stream route {}: no endpoint accepted a connection from {} ({})", spec.name, clientIp,
                   ec.message());
    co_return;
  }
  conn->endpoint->inFlight.fetch_add(1, std::memory_order_relaxed);
  conn->backend->connections.fetch_add(1, std::memory_order_relaxed);
  worker.metrics().recordStream(StreamOutcome::Proxied);
  // A long-lived connection must not keep this table version's objects alive.
  pinned.reset();
  table.reset();

  error_code ignored;
  conn->client.socket().non_blocking(true, ignored);
  conn->upstream.socket().non_blocking(true, ignored);
  conn->client.socket().set_option(tcp::no_delay(true), ignored);
  conn->touch();
  worker.registerStream(conn.get());
  conn->registered = true;
  // Two frames of their own: this one (its pick and connect state) ends here, so a long
  // connection holds only the pumps.
  net::co_spawn(worker.ioc(), pump(conn, /*fromClient=*/false), logSessionEnd);
  net::co_spawn(worker.ioc(), pump(std::move(conn), /*fromClient=*/true), logSessionEnd);
}

}  // namespace

void startStreamSession(Worker& worker, tcp::socket socket, Worker::ConnectionSlot slot, uint16_t port,
                        bool terminateOtherwise) {
  auto conn = std::make_shared<StreamConnection>(worker, std::move(socket), std::move(slot));
  net::co_spawn(worker.ioc(), serveStream(std::move(conn), port, terminateOtherwise), logSessionEnd);
}

}  // namespace portico::proxy
