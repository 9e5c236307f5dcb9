#include "proxy/server/server.h"

#include <boost/asio/ip/address.hpp>
#include <spdlog/fmt/ranges.h>
#include <spdlog/spdlog.h>

#include <sys/resource.h>

#include <thread>

#include "proxy/server/access_log.h"
#include "proxy/server/worker.h"
#include "proxy/upstream/health_checker.h"
#include "proxy/upstream/http_fetch.h"

namespace portico::proxy {

namespace net = boost::asio;
using tcp = net::ip::tcp;

uint64_t defaultMaxConnections(uint64_t fileLimit, unsigned workers) {
  const uint64_t reserved = 64 + 8 * uint64_t{std::max(1u, workers)};
  return fileLimit > reserved + 2 ? (fileLimit - reserved) / 2 : 1;
}

namespace {
// The soft limit often stays at 1024 for select()'s sake while the hard one is far higher
// (systemd: 1024/524288); a program that needs many descriptors raises it itself, as Go's
// runtime does at start. Returns the limit in force.
uint64_t raiseFileLimit() {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) return 1024;
  if (limit.rlim_cur != limit.rlim_max) {
    const rlim_t before = limit.rlim_cur;
    limit.rlim_cur = limit.rlim_max;
    if (::setrlimit(RLIMIT_NOFILE, &limit) == 0) {
      spdlog::info("raised the open-file limit from {} to {}", before, limit.rlim_cur);
    } else {
      limit.rlim_cur = before;
    }
  }
  // RLIM_INFINITY cannot be set for NOFILE on Linux, but be safe: fs.nr_open's default.
  return limit.rlim_cur == RLIM_INFINITY ? uint64_t{1} << 20 : uint64_t{limit.rlim_cur};
}
}  // namespace

class ProxyServer::Impl {
 public:
  Impl(ServerOptions options, TablePublisher& tables, Metrics& metrics, UpstreamRegistry& upstreams)
      : options_(std::move(options)), tables_(tables), metrics_(metrics), upstreams_(upstreams),
        healthChecker_(tables, upstreams),
        gateway_(policy::GatewayOptions{options_.trustedProxies, options_.redisAddress, options_.redisTimeout},
                 [&upstreams](const std::string& url, const UpstreamTlsSpec* tls,
                              std::chrono::milliseconds timeout) -> Expected<std::string> {
                   HttpFetchOptions fetch{.timeout = timeout};
                   if (tls) {  // the same context (and verification) as a backend with these settings
                     auto context = upstreams.tls(*tls);
                     if (!context) return makeError("GET " + url + ": " + context.error().message);
                     fetch.tls = std::move(context).value();
                   }
                   return httpFetch(url, fetch);
                 }),
        policies_(gateway_) {}

  void start() {
    const uint64_t fileLimit = raiseFileLimit();
    const unsigned workers = std::max(1u, options_.workers);
    const uint64_t derived = defaultMaxConnections(fileLimit, workers);
    const uint64_t limit = options_.maxConnections ? options_.maxConnections : derived;
    metrics_.connections().setLimit(static_cast<int64_t>(std::min<uint64_t>(limit, INT64_MAX)));
    if (options_.maxConnections > derived) {
      spdlog::warn("--max-connections {} is more than the open-file limit {} allows ({}); when descriptors run "
                   "out, listeners pause instead",
                   options_.maxConnections, fileLimit, derived);
    }
    spdlog::info("at most {} client connections ({}; open-file limit {})", limit,
                 options_.maxConnections ? "--max-connections" : "derived from the open-file limit", fileLimit);
    const auto address = net::ip::make_address(options_.listenAddress);
    const tcp::endpoint http(address, options_.httpPort);
    std::optional<tcp::endpoint> https;
    if (options_.httpsPort) https.emplace(address, options_.httpsPort);
    std::vector<tcp::endpoint> streams;
    for (uint16_t port : options_.tcpPorts) streams.emplace_back(address, port);
    for (unsigned i = 0; i < workers; ++i) {
      auto worker = std::make_unique<Worker>(i, options_, tables_, metrics_, upstreams_, gateway_, policies_, tls_);
      try {
        worker->listen(http, https, streams);
      } catch (const std::exception& e) {
        throw std::runtime_error(fmt::format("cannot listen on {}:{} / {} / tcp {}: {}", options_.listenAddress,
                                             options_.httpPort, options_.httpsPort,
                                             fmt::join(options_.tcpPorts, ","), e.what()));
      }
      workers_.push_back(std::move(worker));
    }
    for (auto& worker : workers_) threads_.emplace_back([w = worker.get()] { w->run(); });
    healthChecker_.start();
  }

  void drainAndStop(std::chrono::milliseconds grace) {
    for (auto& worker : workers_) worker->beginDrain();
    const auto deadline = std::chrono::steady_clock::now() + grace;
    while (metrics_.activeConnections() > 0 && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    if (metrics_.activeConnections() > 0)
      spdlog::warn("shutdown: grace period over, closing {} connections", metrics_.activeConnections());
    healthChecker_.stop();
    for (auto& worker : workers_) worker->stop();
    for (auto& thread : threads_) thread.join();
    // Requests waiting for a JWKS refresh hold callbacks that post to a worker's loop: they
    // are dropped before the loops go.
    gateway_.jwks().stop();
    // The workers' last access-log lines are still buffered: write them before we report
    // stopped (and before a caller exits).
    flushAccessLog();
    threads_.clear();
    workers_.clear();
  }

  ~Impl() {
    if (!threads_.empty()) drainAndStop(std::chrono::milliseconds(0));
  }

 private:
  ServerOptions options_;
  TablePublisher& tables_;
  Metrics& metrics_;
  UpstreamRegistry& upstreams_;
  HealthChecker healthChecker_;
  policy::GatewayRuntime gateway_;
  policy::PolicyCompiler policies_;
  TlsContexts tls_{options_.tlsTicketKeyRotation};
  std::vector<std::unique_ptr<Worker>> workers_;
  std::vector<std::thread> threads_;
};

ProxyServer::ProxyServer(ServerOptions options, TablePublisher& tables, Metrics& metrics,
                         UpstreamRegistry& upstreams)
    : impl_(std::make_unique<Impl>(std::move(options), tables, metrics, upstreams)) {}
ProxyServer::~ProxyServer() = default;
void ProxyServer::start() { impl_->start(); }
void ProxyServer::drainAndStop(std::chrono::milliseconds grace) { impl_->drainAndStop(grace); }

}  // namespace portico::proxy
