// The allocation budget of one proxied keep-alive GET (issue 11, "guard rails that stay").
//
// This binary replaces every form of the global operator new/delete with counting
// versions, starts the real ProxyServer in-process (one worker, one route) in front of a
// tiny backend, and sends keep-alive GETs from a client thread. After a warm-up that fills
// the worker's pools and caches, it counts the allocations made while N more requests go
// through, and fails when the figure per request goes over the budget.
//
// The client and the backend are plain blocking POSIX sockets with preallocated buffers, so
// they allocate nothing while the window is open; they mark their threads, and the test
// checks that the allocations counted on them are zero. Everything else counted comes from
// the proxy (its worker thread, and with the access log on, its writer thread).
//
// Only operator new is counted: a library calling malloc directly (OpenSSL, RE2's
// internals in C, hiredis) is not seen. The plain HTTP path calls none of them.
#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>

#include "proxy/config/route_table.h"
#include "proxy/runtime/metrics.h"
#include "proxy/runtime/table_publisher.h"
#include "proxy/server/access_log.h"
#include "proxy/server/server.h"
#include "proxy/upstream/upstream_state.h"
#include "test/support/counting_new.h"

// ---- counting operator new/delete -------------------------------------------------------

namespace {
std::atomic<bool> gCounting{false};
std::atomic<uint64_t> gAllocations{0};
std::atomic<uint64_t> gBytes{0};
std::atomic<uint64_t> gHarnessAllocations{0};  // on the client and backend threads
thread_local bool tHarnessThread = false;
void* volatile gEscape = nullptr;  // keeps the probe allocation from being elided
}  // namespace

void portico::testing::countAllocation(std::size_t size) noexcept {
  if (!gCounting.load(std::memory_order_relaxed)) return;
  gAllocations.fetch_add(1, std::memory_order_relaxed);
  gBytes.fetch_add(size, std::memory_order_relaxed);
  if (tHarnessThread) gHarnessAllocations.fetch_add(1, std::memory_order_relaxed);
}

using namespace portico::proxy;

namespace {

// The budgets, per request, set ~15% above the figures measured when they were last
// lowered (RelWithDebInfo, g++ 12, Boost 1.74: access log off 10.000, on 10.001). A change
// that adds allocations to the request path must raise them on purpose; one that removes
// some should lower them. Where the 10 come from (callgrind call counts of operator new):
// 9 coroutine frames that miss Asio's one-frame per-thread cache (serveOne,
// readRequestHeader, serveRequest, forwardUpstream, readResponseHeader, relayResponse, and
// 3 operation frames of use_awaitable), and the request id. The header fields, the start
// lines, the forwarding plan and the header buffer allocate nothing any more (they were 12
// of 22 before the message heads and the worker's header buffers).
constexpr double kBudgetLogOff = 11.5;
constexpr double kBudgetLogOn = 11.5;
constexpr int kWarmup = 200;
constexpr int kRequests = 1000;

constexpr std::string_view kRequest =
    "GET /alloc HTTP/1.1\r\nHost: alloc.test\r\nUser-Agent: alloc-budget\r\nAccept: */*\r\n\r\n";
constexpr std::string_view kResponse = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

void fail(const char* what) { throw std::runtime_error(std::string(what) + ": " + std::strerror(errno)); }

int listenLoopback(uint16_t& port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) fail("socket");
  const int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) fail("bind");
  if (::listen(fd, 64) != 0) fail("listen");
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  port = ntohs(addr.sin_port);
  return fd;
}

// A port nobody listens on right now, for the proxy (which binds with SO_REUSEPORT itself).
uint16_t freePort() {
  uint16_t port = 0;
  const int fd = listenLoopback(port);
  ::close(fd);
  return port;
}

bool writeAll(int fd, const char* data, size_t n) {
  while (n > 0) {
    const ssize_t w = ::send(fd, data, n, MSG_NOSIGNAL);
    if (w <= 0) return false;
    data += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

// Answers every request header it sees with kResponse, on any number of keep-alive
// connections, from one thread and fixed buffers.
class Backend {
 public:
  Backend() : listener_(listenLoopback(port_)) {
    thread_ = std::thread([this] { run(); });
  }
  ~Backend() {
    stop_.store(true);
    thread_.join();
    for (auto& c : conns_)
      if (c.fd >= 0) ::close(c.fd);
    ::close(listener_);
  }
  uint16_t port() const { return port_; }

 private:
  struct Conn {
    int fd = -1;
    size_t used = 0;
    std::array<char, 16384> buf;
  };

  void run() {
    tHarnessThread = true;
    std::array<pollfd, kMaxConns + 1> fds;
    while (!stop_.load()) {
      size_t n = 0;
      fds[n++] = {listener_, POLLIN, 0};
      for (auto& c : conns_)
        if (c.fd >= 0) fds[n++] = {c.fd, POLLIN, 0};
      if (::poll(fds.data(), n, 20) <= 0) continue;
      if (fds[0].revents & POLLIN) accept();
      for (size_t i = 1; i < n; ++i)
        if (fds[i].revents) serve(fds[i].fd);
    }
  }
  void accept() {
    const int fd = ::accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) return;
    const int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    for (auto& c : conns_) {
      if (c.fd < 0) {
        c.fd = fd;
        c.used = 0;
        return;
      }
    }
    ::close(fd);  // more than kMaxConns: the test never gets there
  }
  void serve(int fd) {
    Conn* conn = nullptr;
    for (auto& c : conns_)
      if (c.fd == fd) conn = &c;
    const ssize_t r = ::recv(fd, conn->buf.data() + conn->used, conn->buf.size() - conn->used, 0);
    if (r <= 0 || conn->used + static_cast<size_t>(r) == conn->buf.size()) {
      ::close(fd);
      conn->fd = -1;
      return;
    }
    conn->used += static_cast<size_t>(r);
    // GETs only: every header end is one request.
    const std::string_view data(conn->buf.data(), conn->used);
    size_t start = 0;
    for (size_t end; (end = data.find("\r\n\r\n", start)) != std::string_view::npos; start = end + 4) {
      if (!writeAll(fd, kResponse.data(), kResponse.size())) break;
    }
    std::memmove(conn->buf.data(), conn->buf.data() + start, conn->used - start);
    conn->used -= start;
  }

  static constexpr size_t kMaxConns = 16;
  uint16_t port_ = 0;
  int listener_;
  std::array<Conn, kMaxConns> conns_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// Sends `count` GETs on one keep-alive connection, one at a time, waiting for each answer.
// Returns the number of complete 200 answers.
class Client {
 public:
  explicit Client(uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) fail("socket");
    const int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    timeval tv{5, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(port);
    for (int attempt = 0; ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0; ++attempt) {
      if (attempt == 100) fail("connect to the proxy");
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
  ~Client() { ::close(fd_); }

  // On its own thread, so that it carries the harness mark. With `openWindow`, that thread
  // starts counting once it runs (creating a thread allocates; that is not the proxy's).
  int send(int count, bool openWindow = false) {
    int ok = 0;
    std::thread t([&] {
      tHarnessThread = true;
      if (openWindow) {
        gAllocations = 0;
        gBytes = 0;
        gHarnessAllocations = 0;
        gCounting = true;
      }
      for (int i = 0; i < count && roundTrip(); ++i) ++ok;
    });
    t.join();
    return ok;
  }

 private:
  bool roundTrip() {
    if (!writeAll(fd_, kRequest.data(), kRequest.size())) return false;
    // The answer ends with the 2-byte body "ok" right after the header; one request is in
    // flight at a time, so the answer is complete when the buffer ends that way.
    size_t used = 0;
    for (;;) {
      const ssize_t r = ::recv(fd_, buf_.data() + used, buf_.size() - used, 0);
      if (r <= 0) return false;
      used += static_cast<size_t>(r);
      const std::string_view data(buf_.data(), used);
      if (data.size() >= 6 && data.substr(data.size() - 6) == "\r\n\r\nok")
        return data.substr(0, 13) == "HTTP/1.1 200 ";
      if (used == buf_.size()) return false;
    }
  }

  int fd_ = -1;
  std::array<char, 16384> buf_;
};

RouteTableConstSharedPtr oneRouteTable(uint16_t backendPort) {
  RouteSpec route;
  route.name = "default/alloc/all";
  route.pathType = PathMatchType::Prefix;
  route.path = "/";
  BackendSpec backend;
  backend.key = "url:http://127.0.0.1:" + std::to_string(backendPort);
  backend.endpoints.push_back(EndpointSpec{"127.0.0.1", backendPort, 1});
  route.backends.push_back(std::move(backend));
  RouteTableSpec spec;
  spec.routes.push_back(std::move(route));
  auto table = RouteTable::build(std::move(spec), 1);
  REQUIRE(table);
  return *table;
}

struct Measurement {
  uint64_t allocations = 0;
  uint64_t bytes = 0;
  uint64_t harness = 0;
  double perRequest() const { return static_cast<double>(allocations) / kRequests; }
};

// The whole setup, measured once: backend, one-route table, proxy with one worker, warm-up,
// then kRequests counted.
Measurement measure(bool accessLog) {
  Backend backend;
  TablePublisher tables;
  tables.publish(oneRouteTable(backend.port()));
  Metrics metrics;
  UpstreamRegistry upstreams;
  ServerOptions options;
  options.listenAddress = "127.0.0.1";
  options.httpPort = freePort();
  options.httpsPort = 0;
  options.workers = 1;
  options.accessLog = accessLog;
  ProxyServer server(options, tables, metrics, upstreams);
  server.start();

  Measurement m;
  {
    Client client(options.httpPort);
    REQUIRE(client.send(kWarmup) == kWarmup);
    const int ok = client.send(kRequests, true);
    // With the access log on, the worker's lines are still buffered: their writing is part of
    // the cost, so the window closes after the writer has written them.
    if (accessLog) flushAccessLog();
    gCounting = false;
    m = {gAllocations.load(), gBytes.load(), gHarnessAllocations.load()};
    REQUIRE(ok == kRequests);
  }
  server.drainAndStop(std::chrono::milliseconds(1000));
  return m;
}

// Access-log lines go to stdout; sends them to /dev/null while `body` runs.
template <typename Body>
auto withStdoutDiscarded(Body&& body) {
  std::fflush(stdout);
  const int saved = ::dup(STDOUT_FILENO);
  const int null = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
  ::dup2(null, STDOUT_FILENO);
  ::close(null);
  struct Restore {
    int saved;
    ~Restore() {
      flushAccessLog();
      ::dup2(saved, STDOUT_FILENO);
      ::close(saved);
    }
  } restore{saved};
  return body();
}

}  // namespace

TEST_SUITE("alloc") {
  TEST_CASE("the allocation counter sees allocations, aligned ones too") {
    gAllocations = 0;
    gCounting = true;
    auto* probe = new char[64];
    gEscape = probe;
    struct alignas(64) Wide {
      char c[64];
    };
    auto* wide = new Wide;
    gEscape = wide;
    gCounting = false;
    delete[] probe;
    delete wide;
    CHECK(gAllocations.load() == 2);
  }

  TEST_CASE("a proxied keep-alive GET stays within its allocation budget, access log off") {
    const Measurement m = measure(false);
    MESSAGE("access log off: " << m.perRequest() << " allocations per request (" << m.allocations << " in "
                               << kRequests << " requests, " << m.bytes / kRequests << " bytes per request)");
    CHECK(m.harness == 0);  // the client and backend allocate nothing: every count is the proxy's
    CHECK(m.perRequest() >= 1.0);  // the proxy does allocate today: zero means counting broke
    CHECK(m.perRequest() <= kBudgetLogOff);
  }

  TEST_CASE("a proxied keep-alive GET stays within its allocation budget, access log on") {
    initAccessLog(false);
    const Measurement m = withStdoutDiscarded([] { return measure(true); });
    MESSAGE("access log on: " << m.perRequest() << " allocations per request (" << m.allocations << " in "
                              << kRequests << " requests, " << m.bytes / kRequests << " bytes per request)");
    CHECK(m.harness == 0);
    CHECK(m.perRequest() >= 1.0);
    CHECK(m.perRequest() <= kBudgetLogOn);
  }
}
