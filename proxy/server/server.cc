#include "proxy/server/server.h"

#include <boost/asio/ip/address.hpp>
#include <spdlog/spdlog.h>

#include <thread>

#include "proxy/server/worker.h"
#include "proxy/upstream/health_checker.h"
#include "proxy/upstream/http_fetch.h"

namespace portico::proxy {

namespace net = boost::asio;
using tcp = net::ip::tcp;

class ProxyServer::Impl {
 public:
  Impl(ServerOptions options, TablePublisher& tables, Metrics& metrics, UpstreamRegistry& upstreams)
      : options_(std::move(options)), tables_(tables), metrics_(metrics), upstreams_(upstreams),
        healthChecker_(tables, upstreams),
        gateway_(policy::GatewayOptions{options_.trustedProxies, options_.redisAddress, options_.redisTimeout},
                 [](const std::string& url, std::chrono::milliseconds timeout) { return httpFetch(url, timeout); }),
        policies_(gateway_) {}

  void start() {
    const auto address = net::ip::make_address(options_.listenAddress);
    const tcp::endpoint http(address, options_.httpPort);
    std::optional<tcp::endpoint> https;
    if (options_.httpsPort) https.emplace(address, options_.httpsPort);
    for (unsigned i = 0; i < std::max(1u, options_.workers); ++i) {
      auto worker = std::make_unique<Worker>(i, options_, tables_, metrics_, upstreams_, gateway_, policies_, tls_);
      try {
        worker->listen(http, https);
      } catch (const std::exception& e) {
        throw std::runtime_error(fmt::format("cannot listen on {}:{} / {}: {}", options_.listenAddress,
                                             options_.httpPort, options_.httpsPort, e.what()));
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
  TlsContexts tls_;
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
