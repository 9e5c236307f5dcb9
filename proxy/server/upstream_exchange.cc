// The router/upstream stage: sends the request to the picked endpoint and takes the
// response header, retrying on another endpoint as the route's retry policy allows, with
// per-try timeouts, the circuit breaker's limits and outlier detection. Separately, a
// pooled connection found closed before any response byte is replaced by a fresh one once
// (bodiless requests only: nothing was consumed that could not be sent again); that is
// not a retry.
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/read_size.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/read.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "proxy/server/body_relay.h"
#include "proxy/server/client_connection.h"
#include "proxy/server/exchange.h"
#include "proxy/server/upstream_connect.h"
#include "proxy/upstream/outlier.h"

namespace portico::proxy {

namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using boost::system::error_code;
using Clock = std::chrono::steady_clock;
constexpr auto kAwait = net::use_awaitable;

bool idempotent(http::verb method) {
  switch (method) {
    case http::verb::get:
    case http::verb::head:
    case http::verb::options:
    case http::verb::trace:
    case http::verb::put:
    case http::verb::delete_:
      return true;
    default:
      return false;
  }
}

// Counts something for as long as the guard lives.
class CountGuard {
 public:
  CountGuard() = default;
  explicit CountGuard(std::atomic<int64_t>& counter) : counter_(&counter) {
    counter_->fetch_add(1, std::memory_order_relaxed);
  }
  // A slot under `limit` (0: unlimited), or an empty guard when all are taken. Exact under
  // concurrency: the increment itself decides.
  static CountGuard acquire(std::atomic<int64_t>& counter, uint32_t limit) {
    const int64_t before = counter.fetch_add(1, std::memory_order_relaxed);
    CountGuard guard;
    guard.counter_ = &counter;
    if (limit && before >= int64_t(limit)) guard.release();
    return guard;
  }
  CountGuard(CountGuard&& other) noexcept : counter_(std::exchange(other.counter_, nullptr)) {}
  CountGuard& operator=(CountGuard&& other) noexcept {
    release();
    counter_ = std::exchange(other.counter_, nullptr);
    return *this;
  }
  ~CountGuard() { release(); }
  explicit operator bool() const { return counter_ != nullptr; }
  void release() {
    if (counter_) counter_->fetch_sub(1, std::memory_order_relaxed);
    counter_ = nullptr;
  }

 private:
  std::atomic<int64_t>* counter_ = nullptr;
};

// Why a try failed before a response header arrived.
enum class TryFailure { ConnectFailure, ConnectTimeout, TlsHandshake, Reset, Timeout };

bool retriesOn(const RetrySpec& retry, TryFailure failure) {
  switch (failure) {
    case TryFailure::ConnectFailure:
    case TryFailure::TlsHandshake:  // another endpoint may have a good certificate
      return retry.onConnectFailure;
    case TryFailure::ConnectTimeout:
      return retry.onConnectFailure || retry.onTimeout;
    case TryFailure::Reset:
      return retry.onReset;
    case TryFailure::Timeout:
      return retry.onTimeout;
  }
  return false;
}

bool retriesOnStatus(const RetrySpec& retry, unsigned status) {
  if (retry.on5xx && status >= 500 && status < 600) return true;
  return std::find(retry.onStatuses.begin(), retry.onStatuses.end(), status) != retry.onStatuses.end();
}

net::awaitable<bool> overflow(Exchange& ex, OverflowReason reason, bool keepAlive) {
  ex.worker.upstreams().recordOverflow(reason);
  ex.responseHeaders.emplace_back("x-portico-overflow", toString(reason));
  co_return co_await reply(ex, 503, std::string("circuit breaker open: ") + toString(reason),
                           keepAlive && ex.clientKeepAlive && !ex.worker.draining());
}

void recordOutcome(Exchange& ex, const Pick& pick, UpstreamOutcome outcome) {
  const RouteSpec& spec = ex.route->spec;
  if (!spec.outlierDetection) return;
  const auto& peers = ex.runtime->balancer->endpointStates(pick.backendIndex);
  if (proxy::recordOutcome(*spec.outlierDetection, *pick.endpointState, *pick.backendState, peers, outcome,
                           nowNanos())) {
    ex.worker.upstreams().recordEjection();
    spdlog::warn("outlier detection: ejected {} (route {})", pick.endpointState->address, spec.name);
  }
}

// Whether one more try fits the retry budget and the request deadline; waits the jittered
// backoff if so. The first retry of a request takes one slot of the route's retry budget
// for the rest of the request.
net::awaitable<bool> retryAllowed(Worker& worker, RouteUpstreamState& routeState, const RetrySpec& retry,
                                  CountGuard& activeRetry, uint32_t attempt, Clock::time_point deadline) {
  if (Clock::now() >= deadline) co_return false;
  if (!activeRetry) {
    const int64_t active = routeState.activeRequests.load(std::memory_order_relaxed);
    const int64_t budget = std::max<int64_t>(retry.minRetriesInFlight, active * int64_t(retry.budgetPercent) / 100);
    if (routeState.activeRetries.load(std::memory_order_relaxed) >= budget) {
      worker.upstreams().recordRetryBudgetExhausted();
      co_return false;
    }
    activeRetry = CountGuard(routeState.activeRetries);
  }
  worker.upstreams().recordRetry();
  // Full jitter: uniform in [0, min(max, base * 2^attempt)].
  const int64_t ceiling =
      std::min<int64_t>(retry.backoffMax.count(), retry.backoffBase.count() << std::min<uint32_t>(attempt, 20));
  if (ceiling > 0) {
    const auto wait = std::chrono::milliseconds(int64_t(worker.random()() % uint64_t(ceiling + 1)));
    if (Clock::now() + wait >= deadline) co_return false;
    net::steady_timer timer(worker.ioc(), wait);
    error_code ec;
    co_await timer.async_wait(net::redirect_error(kAwait, ec));
  }
  co_return true;
}

net::awaitable<error_code> readResponseHeader(UpstreamConnection& conn, std::optional<ResponseParser>& response,
                                              bool isHead, std::chrono::milliseconds timeout) {
  error_code ec;
  conn.stream.timed().expires_after(timeout);
  for (;;) {
    response.emplace();
    response->body_limit(kUnlimitedBody);
    if (isHead) response->skip(true);
    // Reads and parses in place rather than through Beast's composed read, which costs two
    // operation objects per read; the errors are Beast's.
    while (!response->is_header_done()) {
      if (conn.buffer.size() > 0) {
        const size_t n = response->put(conn.buffer.data(), ec);
        conn.buffer.consume(n);
        if (ec && ec != http::error::need_more) co_return ec;
        ec = {};
        if (n > 0) continue;
      }
      const size_t n = co_await conn.stream.async_read_some(conn.buffer.prepare(beast::read_size(conn.buffer, 65536)),
                                                            net::redirect_error(kAwait, ec));
      if (ec == net::error::eof) co_return response->got_some() ? http::error::partial_message : http::error::end_of_stream;
      if (ec) co_return ec;
      conn.buffer.commit(n);
    }
    const unsigned status = response->head().result_int();
    // Interim responses (100, 102, 103) are for this hop; Portico already answered 100.
    if (status >= 100 && status < 200 && status != 101) continue;
    co_return ec;
  }
}

// Tells the client which endpoint it is pinned to, when that changed.
void setAffinityCookie(Exchange& ex, const PickRequest& pr, const Pick& pick) {
  const RouteSpec& spec = ex.route->spec;
  if (!spec.sessionAffinity || pr.affinityId == pick.affinityId) return;
  std::string value = spec.sessionAffinity->cookieName + "=" + fmt::format("{:016x}", pick.affinityId) +
                      "; Path=/; HttpOnly; SameSite=Lax";
  if (spec.sessionAffinity->ttl.count() > 0)
    value += "; Max-Age=" + std::to_string(std::max<int64_t>(1, spec.sessionAffinity->ttl.count() / 1000));
  if (ex.conn.tls()) value += "; Secure";
  ex.responseHeaders.emplace_back("set-cookie", std::move(value));
}

const char* describe(TryFailure failure) {
  switch (failure) {
    case TryFailure::ConnectFailure:
      return "upstream refused the connection";
    case TryFailure::ConnectTimeout:
      return "upstream connect timed out";
    case TryFailure::TlsHandshake:
      return "upstream TLS handshake failed";
    case TryFailure::Timeout:
      return "upstream response timed out";
    case TryFailure::Reset:
      return "upstream reset the connection";
  }
  return "upstream failed";
}

// A body relay buffer borrowed from the worker for one exchange.
class BodyBuffer {
 public:
  explicit BodyBuffer(Worker& worker) : worker_(worker) {}
  ~BodyBuffer() {
    if (buffer_) worker_.returnBodyBuffer(std::move(buffer_));
  }
  char* get() {
    if (!buffer_) buffer_ = worker_.takeBodyBuffer();
    return buffer_.get();
  }

 private:
  Worker& worker_;
  std::unique_ptr<char[]> buffer_;
};

}  // namespace

net::awaitable<bool> forwardUpstream(Exchange& ex, const PickRequest& pickRequest, Pick pick) {
  Worker& worker = ex.worker;
  RequestParser& parser = ex.parser;
  Request& req = parser.head();
  const bool upgrade = !ex.request.upgrade.empty();
  const RouteSpec& spec = ex.route->spec;
  const bool hasBody = !parser.is_done();
  const bool isHead = req.method() == http::verb::head;
  const RetrySpec* retry = spec.retries ? &*spec.retries : nullptr;
  const bool mayRetry = retry && !hasBody && !upgrade && (idempotent(req.method()) || retry->nonIdempotent);
  const uint32_t maxTries = 1 + (mayRetry ? retry->attempts : 0);
  const auto deadline = ex.start + spec.timeouts.request;
  RouteUpstreamState& routeState = *ex.runtime->upstream;
  CountGuard activeRequest(routeState.activeRequests);
  CountGuard activeRetry;
  std::vector<const EndpointState*> tried;
  BodyBuffer body(worker);
  http1::RequestHeadPlan& plan = ex.forwarding.head;
  // Host is always sent: an HTTP/1.0 request without one gets the endpoint's address.
  const bool hostFromEndpoint = plan.host.empty();

  for (uint32_t attempt = 0;; ++attempt) {
    if (attempt > 0) {
      PickRequest next = pickRequest;
      next.tried = &tried;
      next.now = nowNanos();
      pick = ex.runtime->balancer->pick(next, *ex.runtime->cursors, worker.random());
      if (!pick) co_return co_await reply(ex, 503, "no endpoints available for this route", false);
    }
    ex.endpoint = pick.endpoint;
    const std::shared_ptr<UpstreamTls>& tls = ex.runtime->balancer->tls(pick.backendIndex);
    if (pick.backend->tls && !tls)  // never downgrade a TLS backend to plaintext
      co_return co_await reply(ex, 502, ex.runtime->balancer->tlsError(pick.backendIndex), false);
    EndpointState& endpointState = *pick.endpointState;
    BackendState& backendState = *pick.backendState;
    if (mayRetry) tried.push_back(&endpointState);

    const CircuitBreakerSpec& breaker = spec.circuitBreaker;
    CountGuard backendInFlight = CountGuard::acquire(backendState.inFlight, breaker.maxRequests);
    if (!backendInFlight) co_return co_await overflow(ex, OverflowReason::MaxRequests, !hasBody);
    CountGuard endpointInFlight(endpointState.inFlight);

    // Everything up to the response header of this try; the failure decides on a retry.
    std::optional<TryFailure> failure;
    const auto tryStart = Clock::now();
    auto tryTimeout = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - tryStart);
    if (retry && retry->perTryTimeout.count() > 0) tryTimeout = std::min(tryTimeout, retry->perTryTimeout);
    if (tryTimeout.count() <= 0) tryTimeout = std::chrono::milliseconds(1);

    const std::string& address = endpointState.address;  // the pool key, built once per table
    UpstreamConnectionPtr conn;
    std::optional<ResponseParser> response;
    std::string tlsFailure;
    for (bool freshRetryUsed = false;;) {
      conn = worker.pool().take(address, tls.get());
      if (!conn) {
        if (breaker.maxConnections &&
            backendState.connections.load(std::memory_order_relaxed) >= breaker.maxConnections)
          co_return co_await overflow(ex, OverflowReason::MaxConnections, !hasBody);
        CountGuard pending = CountGuard::acquire(backendState.pending, breaker.maxPendingRequests);
        if (!pending) co_return co_await overflow(ex, OverflowReason::MaxPendingRequests, !hasBody);
        error_code ec;
        conn = co_await connectUpstream(worker, *pick.endpoint, std::min(spec.timeouts.connect, tryTimeout), address,
                                        ex.runtime->balancer->backendState(pick.backendIndex), tls, ec, tlsFailure);
        if (!conn) {
          failure = ec == beast::error::timeout ? TryFailure::ConnectTimeout
                    : tlsFailure.empty()        ? TryFailure::ConnectFailure
                                                : TryFailure::TlsHandshake;
          if (!tlsFailure.empty())
            spdlog::debug("{} TLS handshake with {} failed: {}", ex.requestId, address, tlsFailure);
          break;
        }
        endpointState.connectionsOpened.fetch_add(1, std::memory_order_relaxed);
      }
      const bool canReconnect = conn->reused && !hasBody && !freshRetryUsed;

      if (hostFromEndpoint) plan.host = address;
      // The fields now, before any of the body (and its trailers) is parsed.
      http1::writeRequestHead(ex.head, req, plan);
      auto writeHead = [&](http1::Framing framing, uint64_t length) {
        http1::endRequestHead(ex.head, plan, framing, length);
      };
      const http1::AnnouncedFraming announced{ex.request.body, ex.request.contentLength, {}};
      uint64_t requestBytes = 0;
      const RelayResult sent =
          co_await relayMessage(ex.conn.stream, ex.conn.buffer, parser, conn->stream, ex.head, writeHead, announced,
                                true, body.get(), Worker::kBodyBufferSize, ex.options.bodyTimeout, tryTimeout,
                                requestBytes);
      if (sent.failed == Side::From) co_return co_await clientBodyFailed(ex, sent.ec);
      if (sent.failed == Side::To) {
        if (canReconnect) {
          freshRetryUsed = true;
          continue;
        }
        failure = sent.ec == beast::error::timeout ? TryFailure::Timeout : TryFailure::Reset;
        break;
      }
      const auto remaining =
          tryTimeout - std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - tryStart);
      const error_code ec =
          co_await readResponseHeader(*conn, response, isHead, std::max(remaining, std::chrono::milliseconds(1)));
      if (ec) {
        if (canReconnect && !response->got_some() && ec != beast::error::timeout) {
          freshRetryUsed = true;
          continue;
        }
        spdlog::debug("{} reading the response header from {}: {}", ex.requestId, address, ec.message());
        failure = ec == beast::error::timeout ? TryFailure::Timeout : TryFailure::Reset;
      }
      break;
    }

    const unsigned status = failure ? 0 : response->head().result_int();
    recordOutcome(ex, pick,
                  failure           ? UpstreamOutcome::GatewayFailure
                  : status >= 500   ? UpstreamOutcome::ServerError
                                    : UpstreamOutcome::Success);
    const bool wantRetry = retry && (failure ? retriesOn(*retry, *failure) : retriesOnStatus(*retry, status));
    if (wantRetry && attempt + 1 < maxTries &&
        co_await retryAllowed(worker, routeState, *retry, activeRetry, attempt, deadline))
      continue;  // the failed connection (or unread response) is dropped with `conn`

    if (failure) {
      const bool timedOut = *failure == TryFailure::Timeout || *failure == TryFailure::ConnectTimeout;
      const bool connectFailed = *failure == TryFailure::ConnectFailure || *failure == TryFailure::TlsHandshake;
      worker.metrics().recordUpstreamError(connectFailed ? UpstreamError::ConnectFailure
                                           : timedOut                             ? UpstreamError::Timeout
                                                                                  : UpstreamError::Reset);
      const std::string why = *failure == TryFailure::TlsHandshake
                                  ? std::string(describe(*failure)) + ": " + tlsFailure
                                  : std::string(describe(*failure));
      co_return co_await reply(ex, timedOut ? 504 : 502, why, !hasBody && ex.clientKeepAlive && !worker.draining());
    }
    setAffinityCookie(ex, pickRequest, pick);
    ex.status = status;
    if (status == 101) {
      if (!upgrade || !beast::iequals(response->head()[http::field::upgrade], ex.request.upgrade)) {
        worker.metrics().recordUpstreamError(UpstreamError::Reset);
        co_return co_await reply(ex, 502, "upstream switched to a protocol the client did not ask for", false);
      }
      co_await tunnel(ex, *response, *conn);
      co_return false;
    }
    co_return co_await relayResponse(ex, *response, std::move(conn), body.get());
  }
}

}  // namespace portico::proxy
