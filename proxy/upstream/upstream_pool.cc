#include "proxy/upstream/upstream_pool.h"

#include <sys/socket.h>

namespace portico::proxy {

namespace {
constexpr auto kTrustIdleFor = std::chrono::milliseconds(500);

// True if the peer has not closed or written to an idle connection. One non-blocking
// peek per reuse; a close racing with it is caught by the caller's one retry on a fresh
// connection for requests without a body.
bool looksOpen(UpstreamConnection& conn) {
  auto& socket = conn.stream.timed().socket();
  if (!socket.is_open()) return false;
  char byte;
  const ssize_t n = ::recv(socket.native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}
}  // namespace

UpstreamPool::UpstreamPool(boost::asio::io_context& ioc, size_t maxIdlePerEndpoint)
    : ioc_(ioc), maxIdlePerEndpoint_(maxIdlePerEndpoint), sweepTimer_(ioc) {}

UpstreamConnectionPtr UpstreamPool::take(const std::string& endpoint, const UpstreamTls* tls) {
  auto it = idle_.find(endpoint);
  if (it == idle_.end()) return nullptr;
  auto& stack = it->second;
  const auto now = std::chrono::steady_clock::now();
  for (size_t i = stack.size(); i-- > 0;) {
    // Another context (plaintext, or TLS settings since rotated) stays for its own users
    // until it idles out.
    if (stack[i]->tls.get() != tls) continue;
    UpstreamConnectionPtr conn = std::move(stack[i]);
    stack.erase(stack.begin() + ptrdiff_t(i));
    // A peer closes idle connections after seconds, not milliseconds (and one that ends
    // keep-alive says so in its last response), so only connections idle for a while
    // pay for the peek; the busy path reuses at once.
    const bool recentlyUsed = now - conn->idleSince < kTrustIdleFor;
    if (conn->idleDeadline > now && (recentlyUsed || looksOpen(*conn))) {
      conn->reused = true;
      return conn;
    }
    boost::system::error_code ignored;
    conn->stream.timed().socket().close(ignored);
  }
  return nullptr;
}

void UpstreamPool::put(UpstreamConnectionPtr conn, std::chrono::milliseconds idle) {
  auto& stack = idle_[conn->endpoint];
  if (stack.size() >= maxIdlePerEndpoint_ || idle.count() <= 0) {
    boost::system::error_code ignored;
    conn->stream.timed().socket().close(ignored);
    return;
  }
  conn->stream.timed().expires_never();
  conn->idleSince = std::chrono::steady_clock::now();
  conn->idleDeadline = conn->idleSince + idle;
  stack.push_back(std::move(conn));
}

void UpstreamPool::startSweeping() {
  sweepTimer_.expires_after(std::chrono::seconds(1));
  sweepTimer_.async_wait([this](boost::system::error_code ec) {
    if (ec) return;
    sweep();
    startSweeping();
  });
}

void UpstreamPool::sweep() {
  const auto now = std::chrono::steady_clock::now();
  for (auto it = idle_.begin(); it != idle_.end();) {
    auto& stack = it->second;
    std::erase_if(stack, [now](const UpstreamConnectionPtr& c) {
      if (c->idleDeadline > now) return false;
      boost::system::error_code ignored;
      c->stream.timed().socket().close(ignored);
      return true;
    });
    it = stack.empty() ? idle_.erase(it) : std::next(it);
  }
}

void UpstreamPool::closeAll() {
  sweepTimer_.cancel();
  for (auto& [endpoint, stack] : idle_) {
    for (auto& c : stack) {
      boost::system::error_code ignored;
      c->stream.timed().socket().close(ignored);
    }
  }
  idle_.clear();
}

size_t UpstreamPool::idleCount() const {
  size_t n = 0;
  for (const auto& [endpoint, stack] : idle_) n += stack.size();
  return n;
}

}  // namespace portico::proxy
