#include "proxy/upstream/health_checker.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <spdlog/spdlog.h>

#include <map>
#include <thread>

#include "proxy/runtime/table_publisher.h"
#include "proxy/upstream/upstream_state.h"
#include "proxy/upstream/upstream_tls.h"

namespace portico::proxy {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
using boost::system::error_code;

namespace {
constexpr auto kTablePoll = std::chrono::milliseconds(250);
constexpr auto kSweepEvery = std::chrono::seconds(5);

// What a probe checks, and how: over TLS when the backend is.
struct ProbeTarget {
  EndpointSpec endpoint;
  HealthCheckSpec spec;
  UpstreamTlsPtr tls;  // the data plane's context: the same verification, the same sessions
  bool operator==(const ProbeTarget&) const = default;
};

struct Probe {
  ProbeTarget target;
  EndpointStatePtr state;
  bool stopped = false;
};
using ProbePtr = std::shared_ptr<Probe>;

template <class Stream>
net::awaitable<bool> askHealth(Stream& stream, const Probe& probe) {
  const ProbeTarget& target = probe.target;
  error_code ec;
  http::request<http::empty_body> req{http::verb::get, target.spec.path, 11};
  req.set(http::field::host, target.spec.host.empty() ? target.endpoint.address() : target.spec.host);
  req.set(http::field::user_agent, "portico-health-check");
  req.set(http::field::connection, "close");
  co_await http::async_write(stream, req, net::redirect_error(net::use_awaitable, ec));
  if (ec) co_return false;
  beast::flat_buffer buffer;
  http::response_parser<http::empty_body> parser;
  parser.skip(true);  // the verdict is the status; the body is not read
  co_await http::async_read_header(stream, buffer, parser, net::redirect_error(net::use_awaitable, ec));
  if (ec) co_return false;
  const unsigned status = parser.get().result_int();
  co_return status >= 200 && status < 400;
}

// One GET; true for a 2xx or 3xx answer within the timeout.
net::awaitable<bool> probeOnce(const Probe& probe) {
  const ProbeTarget& target = probe.target;
  auto executor = co_await net::this_coro::executor;
  beast::tcp_stream stream(executor);
  stream.expires_after(target.spec.timeout);
  error_code ec;
  tcp::resolver resolver(executor);
  auto results = co_await resolver.async_resolve(target.endpoint.host, std::to_string(target.endpoint.port),
                                                 net::redirect_error(net::use_awaitable, ec));
  if (ec) co_return false;
  co_await stream.async_connect(results, net::redirect_error(net::use_awaitable, ec));
  if (ec) co_return false;
  bool passed = false;
  if (target.spec.connectOnly) {  // a stream route's backend: accepting connections is the check
    passed = true;
  } else if (!target.tls) {
    passed = co_await askHealth(stream, probe);
  } else {
    net::ssl::stream<beast::tcp_stream&> tlsStream(stream, target.tls->context());
    if (target.tls->prepare(tlsStream.native_handle(), target.endpoint.host, probe.state->address)) {
      co_await tlsStream.async_handshake(net::ssl::stream_base::client, net::redirect_error(net::use_awaitable, ec));
      if (!ec) passed = co_await askHealth(tlsStream, probe);
    }
  }
  stream.socket().close(ec);
  co_return passed;
}

void applyVerdict(Probe& probe, bool passed) {
  EndpointState& state = *probe.state;
  if (passed) {
    state.checkFailures.store(0);
    const uint32_t passes = state.checkPasses.fetch_add(1) + 1;
    if (!state.activeHealthy.load() && passes >= probe.target.spec.healthyThreshold) {
      state.activeHealthy.store(true);
      spdlog::info("health check: {} is healthy again ({} passes of {})", state.address, passes, probe.target.spec.path);
    }
  } else {
    state.checkPasses.store(0);
    const uint32_t failures = state.checkFailures.fetch_add(1) + 1;
    if (state.activeHealthy.load() && failures >= probe.target.spec.unhealthyThreshold) {
      state.activeHealthy.store(false);
      spdlog::warn("health check: {} is unhealthy ({} failures of {})", state.address, failures,
                   probe.target.spec.path);
    }
  }
}

net::awaitable<void> probeLoop(ProbePtr probe) {
  net::steady_timer timer(co_await net::this_coro::executor);
  while (!probe->stopped) {
    const bool passed = co_await probeOnce(*probe);
    if (probe->stopped) break;
    applyVerdict(*probe, passed);
    timer.expires_after(probe->target.spec.interval);
    error_code ec;
    co_await timer.async_wait(net::redirect_error(net::use_awaitable, ec));
  }
}
}  // namespace

class HealthChecker::Impl {
 public:
  Impl(const TablePublisher& tables, UpstreamRegistry& registry) : tables_(tables), registry_(registry) {}

  void start() {
    net::co_spawn(ioc_, watchTables(), net::detached);
    thread_ = std::thread([this] { ioc_.run(); });
  }

  void stop() {
    ioc_.stop();
    if (thread_.joinable()) thread_.join();
  }

 private:
  net::awaitable<void> watchTables() {
    net::steady_timer timer(ioc_);
    uint64_t seen = 0;
    auto lastSweep = std::chrono::steady_clock::now();
    for (;;) {
      if (tables_.version() != seen) {
        RouteTableConstSharedPtr table = tables_.current();
        seen = table ? table->version() : 0;
        if (table) updateProbes(*table);
      }
      if (std::chrono::steady_clock::now() - lastSweep > kSweepEvery) {
        if (auto table = tables_.current()) registry_.sweep(*table);
        lastSweep = std::chrono::steady_clock::now();
      }
      timer.expires_after(kTablePoll);
      error_code ec;
      co_await timer.async_wait(net::redirect_error(net::use_awaitable, ec));
    }
  }

  // One probe per endpoint address (the first route's check wins when several routes
  // check the same endpoint). A probe whose settings are unchanged keeps running.
  void updateProbes(const RouteTable& table) {
    std::map<std::string, ProbeTarget> wanted;
    for (const Route& route : table.routes()) {
      if (!route.spec.healthCheck) continue;
      for (const BackendSpec& backend : route.spec.backends) {
        UpstreamTlsPtr tls;
        if (backend.tls) {
          auto context = registry_.tls(*backend.tls);
          if (!context) continue;  // not checked: the data plane answers 502 for it anyway
          tls = std::move(context).value();
        }
        for (const EndpointSpec& endpoint : backend.endpoints)
          wanted.try_emplace(endpoint.address(), ProbeTarget{endpoint, *route.spec.healthCheck, tls});
      }
    }
    for (auto it = probes_.begin(); it != probes_.end();) {
      auto want = wanted.find(it->first);
      if (want != wanted.end() && want->second == it->second->target) {
        wanted.erase(want);
        ++it;
        continue;
      }
      it->second->stopped = true;
      if (want == wanted.end()) it->second->state->activeHealthy.store(true);  // unchecked = healthy
      it = probes_.erase(it);
    }
    for (auto& [address, target] : wanted) {
      auto probe = std::make_shared<Probe>(Probe{std::move(target), registry_.endpoint(address)});
      probes_.emplace(address, probe);
      net::co_spawn(ioc_, probeLoop(probe), net::detached);
    }
  }

  const TablePublisher& tables_;
  UpstreamRegistry& registry_;
  net::io_context ioc_{1};
  std::thread thread_;
  std::map<std::string, ProbePtr> probes_;
};

HealthChecker::HealthChecker(const TablePublisher& tables, UpstreamRegistry& registry)
    : impl_(std::make_unique<Impl>(tables, registry)) {}
HealthChecker::~HealthChecker() { impl_->stop(); }
void HealthChecker::start() { impl_->start(); }
void HealthChecker::stop() { impl_->stop(); }

}  // namespace portico::proxy
