#include "proxy/server/worker.h"

#include <boost/asio/ssl.hpp>
#include <spdlog/spdlog.h>

#include "proxy/server/http_session.h"

namespace portico::proxy {

namespace net = boost::asio;
using tcp = net::ip::tcp;

Worker::Worker(unsigned id, const ServerOptions& options, const TablePublisher& tables, Metrics& metrics,
               UpstreamRegistry& upstreams, policy::GatewayRuntime& gateway, policy::PolicyCompiler& policies,
               TlsContexts& tls)
    : id_(id), options_(options), tables_(tables), metrics_(metrics), upstreams_(upstreams), gateway_(gateway),
      policies_(policies), tls_(tls),
      pool_(ioc_, options.upstreamMaxIdlePerEndpoint), random_(std::random_device{}()) {
  applyServerPolicy(baseTls_);
  SSL_CTX_set_tlsext_servername_callback(baseTls_.native_handle(), &Worker::onServerName);
  SSL_CTX_set_tlsext_servername_arg(baseTls_.native_handle(), this);
}

Worker::~Worker() {
  boost::system::error_code ignored;
  if (httpAcceptor_) httpAcceptor_->close(ignored);
  if (httpsAcceptor_) httpsAcceptor_->close(ignored);
  for (SessionHandle* session : sessions_) session->stream->socket().close(ignored);
  pool_.closeAll();
  limiterSweepTimer_.cancel();
  ioc_.restart();
  ioc_.run_for(std::chrono::milliseconds(200));
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
  return acceptor;
}
}  // namespace

void Worker::listen(const tcp::endpoint& http, const std::optional<tcp::endpoint>& https) {
  httpAcceptor_.emplace(bindReusePort(ioc_, http));
  if (https) httpsAcceptor_.emplace(bindReusePort(ioc_, *https));
}

void Worker::run() {
  acceptHttp();
  if (httpsAcceptor_) acceptHttps();
  pool_.startSweeping();
  if (id_ == 0) sweepRateLimits();
  ioc_.run();
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

void Worker::acceptHttp() {
  httpAcceptor_->async_accept([this](boost::system::error_code ec, tcp::socket socket) {
    if (ec == net::error::operation_aborted || draining_) return;
    if (!ec) startHttpSession(*this, std::move(socket));
    else spdlog::warn("worker {}: accept failed: {}", id_, ec.message());
    acceptHttp();
  });
}

void Worker::acceptHttps() {
  httpsAcceptor_->async_accept([this](boost::system::error_code ec, tcp::socket socket) {
    if (ec == net::error::operation_aborted || draining_) return;
    if (!ec) {
      table();  // so that SNI selects among the newest certificates
      startHttpsSession(*this, std::move(socket), baseTls_);
    } else {
      spdlog::warn("worker {}: accept failed: {}", id_, ec.message());
    }
    acceptHttps();
  });
}

int Worker::onServerName(SSL* ssl, int*, void* arg) {
  auto* self = static_cast<Worker*>(arg);
  const char* name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
  SSL_CTX* ctx = self->certificates_ ? self->certificates_->select(name ? name : "") : nullptr;
  if (!ctx) return SSL_TLSEXT_ERR_ALERT_FATAL;  // no certificate at all for this listener
  SSL_set_SSL_CTX(ssl, ctx);
  return SSL_TLSEXT_ERR_OK;
}

const RouteTableConstSharedPtr& Worker::table() {
  const RouteTableConstSharedPtr& table = tables_.refresh();
  if (table && table->version() != resolvedVersion_) {
    // Once per table version: map every route to the runtime state kept by name. The new
    // runtime is built before the old one goes, so shared upstream state stays alive.
    auto runtime = std::make_shared<TableRuntime>();
    runtime->policies = policies_.forTable(table);
    runtime->routes.reserve(table->routes().size());
    std::unordered_set<std::string> addresses;
    for (const Route& route : table->routes()) {
      const auto& policies = runtime->policies->routes[route.index];
      runtime->routes.push_back({metrics_.routeStats(route.spec.name),
                                 std::make_unique<RouteBalancer>(route.spec, upstreams_),
                                 cursors_.cursorsFor(route.spec.name), upstreams_.route(route.spec.name),
                                 policies ? &*policies : nullptr});
      for (const BackendSpec& backend : route.spec.backends)
        for (const EndpointSpec& endpoint : backend.endpoints) addresses.insert(endpoint.address());
    }
    runtime_ = std::move(runtime);
    pool_.retainIf([&](const std::string& address) { return addresses.count(address) > 0; });
    certificates_ = tls_.forTable(*table);
    resolvedVersion_ = table->version();
  }
  return table;
}

void Worker::beginDrain() {
  net::post(ioc_, [this] {
    draining_ = true;
    boost::system::error_code ignored;
    if (httpAcceptor_) httpAcceptor_->close(ignored);
    if (httpsAcceptor_) httpsAcceptor_->close(ignored);
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

}  // namespace portico::proxy
