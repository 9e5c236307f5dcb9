#include "proxy/admin/admin_server.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <spdlog/spdlog.h>

#include <thread>

#include "proxy/runtime/metrics.h"
#include "proxy/runtime/table_publisher.h"
#include "proxy/upstream/upstream_state.h"

namespace portico::proxy {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;

class AdminServer::Impl {
 public:
  Impl(std::string address, uint16_t port, const TablePublisher& tables, const Metrics& metrics,
       const UpstreamRegistry& upstreams, std::function<bool()> ready)
      : address_(std::move(address)), port_(port), tables_(tables), metrics_(metrics), upstreams_(upstreams),
        ready_(std::move(ready)) {}

  void start() {
    const tcp::endpoint endpoint(net::ip::make_address(address_), port_);
    try {
      acceptor_.open(endpoint.protocol());
      acceptor_.set_option(net::socket_base::reuse_address(true));
      acceptor_.bind(endpoint);
      acceptor_.listen();
    } catch (const std::exception& e) {
      throw std::runtime_error(fmt::format("cannot listen on admin {}:{}: {}", address_, port_, e.what()));
    }
    net::co_spawn(ioc_, acceptLoop(), net::detached);
    thread_ = std::thread([this] { ioc_.run(); });
  }

  void stop() {
    ioc_.stop();
    if (thread_.joinable()) thread_.join();
  }

 private:
  // Ends only when the acceptor is closed. Any other failure (out of descriptors, above
  // all) pauses the loop instead of ending it: the probes on this port must come back
  // once descriptors do, and a loop that retries at once would spin.
  net::awaitable<void> acceptLoop() {
    net::steady_timer pause(ioc_);
    bool failing = false;  // logged once per streak of failures, not per retry
    for (;;) {
      boost::system::error_code ec;
      tcp::socket socket = co_await acceptor_.async_accept(net::redirect_error(net::use_awaitable, ec));
      if (ec == net::error::operation_aborted || !acceptor_.is_open()) co_return;
      if (ec) {
        if (!failing) spdlog::error("admin: accept failed: {}; retrying every {} ms", ec.message(), kAcceptRetry.count());
        failing = true;
        pause.expires_after(kAcceptRetry);
        co_await pause.async_wait(net::redirect_error(net::use_awaitable, ec));
        continue;
      }
      if (failing) spdlog::info("admin: accepting connections again");
      failing = false;
      net::co_spawn(ioc_, serve(std::move(socket)), net::detached);
    }
  }
  static constexpr std::chrono::milliseconds kAcceptRetry{100};

  net::awaitable<void> serve(tcp::socket socket) {
    beast::tcp_stream stream(std::move(socket));
    beast::flat_buffer buffer;
    boost::system::error_code ec;
    for (;;) {
      http::request<http::string_body> req;
      stream.expires_after(std::chrono::seconds(30));
      co_await http::async_read(stream, buffer, req, net::redirect_error(net::use_awaitable, ec));
      if (ec) break;
      http::response<http::string_body> res = answer(req);
      res.keep_alive(req.keep_alive());
      res.prepare_payload();
      co_await http::async_write(stream, res, net::redirect_error(net::use_awaitable, ec));
      if (ec || !req.keep_alive()) break;
    }
    stream.socket().shutdown(tcp::socket::shutdown_both, ec);
  }

  http::response<http::string_body> answer(const http::request<http::string_body>& req) const {
    http::response<http::string_body> res{http::status::ok, req.version()};
    res.set(http::field::content_type, "text/plain; charset=utf-8");
    std::string_view path = req.target();
    path = path.substr(0, path.find('?'));
    if (req.method() != http::verb::get && req.method() != http::verb::head) {
      res.result(http::status::method_not_allowed);
      res.body() = "only GET\n";
    } else if (path == "/healthz") {
      res.body() = "ok\n";
    } else if (path == "/readyz") {
      const bool ready = tables_.version() > 0 && (!ready_ || ready_());
      res.result(ready ? http::status::ok : http::status::service_unavailable);
      res.body() = ready ? "ready\n" : "not ready\n";
    } else if (path == "/metrics") {
      res.set(http::field::content_type, "text/plain; version=0.0.4");
      res.body() = metrics_.render() + upstreams_.renderMetrics();
    } else if (path == "/routes") {
      res.set(http::field::content_type, "application/json");
      auto table = tables_.current();
      res.body() = table ? table->toJson() : "{\"version\":0,\"routes\":[]}";
    } else if (path == "/upstreams") {
      res.set(http::field::content_type, "application/json");
      res.body() = upstreams_.toJson();
    } else {
      res.result(http::status::not_found);
      res.body() = "not found\n";
    }
    return res;
  }

  std::string address_;
  uint16_t port_;
  const TablePublisher& tables_;
  const Metrics& metrics_;
  const UpstreamRegistry& upstreams_;
  std::function<bool()> ready_;
  net::io_context ioc_{1};
  tcp::acceptor acceptor_{ioc_};
  std::thread thread_;
};

AdminServer::AdminServer(std::string address, uint16_t port, const TablePublisher& tables,
                         const Metrics& metrics, const UpstreamRegistry& upstreams, std::function<bool()> ready)
    : impl_(std::make_unique<Impl>(std::move(address), port, tables, metrics, upstreams, std::move(ready))) {}
AdminServer::~AdminServer() { impl_->stop(); }
void AdminServer::start() { impl_->start(); }
void AdminServer::stop() { impl_->stop(); }

}  // namespace portico::proxy
