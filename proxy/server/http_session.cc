// A client connection: read a request header, route it, relay the request to an upstream
// connection from the worker's pool, relay the response back, repeat while keep-alive.
// Bodies stream through a fixed buffer in both directions (Beast's buffer_body relay),
// never buffered whole. Everything runs on the worker's thread; errors are error_codes,
// never exceptions.
#include "proxy/server/http_session.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <spdlog/spdlog.h>

#include <charconv>

#include "proxy/http/head_writer.h"
#include "proxy/http/request_admission.h"
#include "proxy/router/cookie.h"
#include "proxy/router/path.h"
#include "proxy/router/query.h"
#include "proxy/upstream/http_fetch.h"
#include "proxy/upstream/outlier.h"
#include "proxy/server/access_log.h"
#include "proxy/server/body_relay.h"
#include "proxy/server/http_errors.h"
#include "proxy/server/worker.h"

namespace portico::proxy {

namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
using boost::system::error_code;
using Clock = std::chrono::steady_clock;
using RequestParser = http::request_parser<http::buffer_body>;
using ResponseParser = http::response_parser<http::buffer_body>;
using Request = http::request<http::buffer_body>;
using Response = http::response<http::buffer_body>;

constexpr size_t kReadSize = 16 * 1024;
constexpr auto kTunnelIdleTimeout = std::chrono::hours(1);
constexpr auto kAwait = net::use_awaitable;
// "No limit". Not boost::none: Beast 1.74 compares a Content-Length with the optional
// limit, and any number is greater than an empty optional.
constexpr uint64_t kUnlimited = std::numeric_limits<uint64_t>::max();

// The router's view of a Beast request header.
class BeastRequestView final : public RequestView {
 public:
  BeastRequestView(const Request& req, std::string_view host, std::string_view path,
                   std::string_view query)
      : req_(req), host_(host), path_(path), query_(query) {}
  std::string_view method() const override { return req_.method_string(); }
  std::string_view host() const override { return host_; }
  std::string_view path() const override { return path_; }
  std::string_view query() const override { return query_; }
  std::optional<std::string_view> header(std::string_view name) const override {
    auto it = req_.find(name);
    if (it == req_.end()) return std::nullopt;
    return it->value();
  }

 private:
  const Request& req_;
  std::string_view host_, path_, query_;
};

// obs-fold (a header line continued on the next line) is deprecated and a classic
// smuggling vector; Beast unfolds it, so it is rejected on the raw bytes. The header is
// consumed in pieces (the start line first), so `afterNewline` carries across calls.
bool hasObsFold(const net::const_buffer& header, size_t n, bool& afterNewline) {
  const char* p = static_cast<const char*>(header.data());
  for (size_t i = 0; i < n; ++i) {
    if (afterNewline && (p[i] == ' ' || p[i] == '\t')) return true;
    afterNewline = p[i] == '\n';
  }
  return false;
}

// One direction of an upgraded connection, byte for byte.
template <class From, class To>
net::awaitable<void> pumpBytes(From& from, To& to) {
  char data[16 * 1024];
  error_code ec;
  for (;;) {
    beast::get_lowest_layer(from).expires_after(kTunnelIdleTimeout);
    const size_t n = co_await from.async_read_some(net::buffer(data), net::redirect_error(kAwait, ec));
    if (ec) break;
    beast::get_lowest_layer(to).expires_after(kTunnelIdleTimeout);
    co_await net::async_write(to, net::buffer(data, n), net::redirect_error(kAwait, ec));
    if (ec) break;
  }
  // Either side closing ends the tunnel: close both so the other direction stops too.
  beast::get_lowest_layer(from).socket().close(ec);
  beast::get_lowest_layer(to).socket().close(ec);
}

// A request body the parser rejected (bad chunk framing), as opposed to a client that
// disconnected or went silent: the client is still there to be told.
bool malformedBody(const error_code& ec) {
  return ec.category() == http::make_error_code(http::error::bad_chunk).category() &&
         ec != http::error::partial_message && ec != http::error::end_of_stream;
}

UpstreamError classify(const error_code& ec) {
  if (ec == beast::error::timeout) return UpstreamError::Timeout;
  return UpstreamError::Reset;
}

// Per-request facts for the access log and metrics, and the storage of what the request
// sends upstream.
struct Exchange {
  Clock::time_point start;
  std::string requestId;
  std::string host;
  std::string clientAddress;  // the peer, or the client behind trusted proxies
  http1::AdmittedRequest request;
  const Route* route = nullptr;
  TableRuntimeConstSharedPtr tableRuntime;  // pinned with the table
  const RouteRuntime* runtime = nullptr;
  const EndpointSpec* endpoint = nullptr;
  unsigned status = 0;
  uint64_t responseBytes = 0;
  bool clientKeepAlive = false;
  unsigned clientVersion = 11;
  // Added to whatever response the client gets (affinity cookie, CORS).
  std::vector<std::pair<std::string, std::string>> responseHeaders;
  // The upstream request: its plan (views into the strings below and into the client's
  // header) and the header section written from it, then reused for the response's.
  http1::RequestHeadPlan upstream;
  std::string upstreamTarget, forwardedFor;
  policy::Admission admission;
  std::string head;
};

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
  // A slot under `limit` (0: unlimited), or an empty guard when all are taken. Exact
  // under concurrency: the increment itself decides.
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
enum class TryFailure { ConnectFailure, ConnectTimeout, Reset, Timeout };

bool retriesOn(const RetrySpec& retry, TryFailure failure) {
  switch (failure) {
    case TryFailure::ConnectFailure:
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

template <class Stream>
class Session {
 public:
  Session(Worker& worker, Stream& stream, std::string clientIp, bool tls)
      : worker_(worker), options_(worker.options()), stream_(stream),
        clientIp_(std::move(clientIp)), tls_(tls) {
    handle_.stream = &beast::get_lowest_layer(stream_);
    error_code ec;
    localPort_ = std::to_string(handle_.stream->socket().local_endpoint(ec).port());
    worker_.registerSession(&handle_);
  }
  ~Session() {
    worker_.unregisterSession(&handle_);
  }

  net::awaitable<void> run() {
    for (;;) {
      RequestParser parser;
      parser.header_limit(static_cast<uint32_t>(options_.maxHeaderBytes));
      parser.body_limit(kUnlimited);  // the route's limit is applied once it is known
      bool gotBytes = false;
      error_code ec = co_await readRequestHeader(parser, gotBytes);
      handle_.idle = false;
      if (ec) {
        if (gotBytes) co_await replyToBadHeader(ec);
        break;
      }
      Exchange ex;
      ex.start = Clock::now();
      const bool keepAlive = co_await handle(parser, ex);
      finish(parser.get(), ex);
      if (!keepAlive || worker_.draining()) break;
    }
    error_code ignored;
    beast::get_lowest_layer(stream_).socket().shutdown(tcp::socket::shutdown_both, ignored);
    beast::get_lowest_layer(stream_).close();
  }

 private:
  // Reads until a complete request header is parsed. The first byte may take up to the
  // keep-alive timeout (then the connection just closes); from there the whole header
  // must arrive within the header timeout, or the client is told 408 (slow-loris clients
  // are cut). That deadline cancels the read rather than closing the socket, as the
  // stream's own timeout would, so the 408 can still be written; its timer exists only
  // while a partial header is waited for.
  net::awaitable<error_code> readRequestHeader(RequestParser& parser, bool& gotBytes) {
    auto& tcpStream = beast::get_lowest_layer(stream_);
    gotBytes = buffer_.size() > 0;
    handle_.idle = !gotBytes;
    auto headerDeadline = Clock::now() + options_.headerTimeout;
    if (gotBytes) tcpStream.expires_never();
    else tcpStream.expires_after(options_.keepAliveTimeout);
    std::optional<net::steady_timer> headerTimer;
    bool timedOut = false;
    error_code ec;
    bool afterNewline = false;
    size_t headerBytes = 0;
    for (;;) {
      if (buffer_.size() > 0) {
        // put() may consume part of the header (the start line, complete field lines) and
        // still say need_more: those bytes must be consumed, or the next put() parses them
        // again. Beast 1.74 applies header_limit to each put() alone, so the total is
        // checked here.
        const size_t n = parser.put(buffer_.data(), ec);
        if ((!ec || ec == http::error::need_more) && hasObsFold(buffer_.data(), n, afterNewline))
          ec = http::error::bad_field;
        buffer_.consume(n);
        headerBytes += n;
        if ((!ec || ec == http::error::need_more) &&
            headerBytes + (parser.is_header_done() ? 0 : buffer_.size()) > options_.maxHeaderBytes)
          ec = http::error::header_limit;
        if (ec != http::error::need_more) {
          if (ec || parser.is_header_done()) co_return ec;
          continue;
        }
        ec = {};
        if (n > 0) continue;  // the rest may already be complete
      }
      if (worker_.draining() && !gotBytes) co_return http::error::end_of_stream;
      if (gotBytes && !headerTimer) {
        headerTimer.emplace(worker_.ioc(), headerDeadline);
        // Runs after the timer is gone only with an error, and then touches nothing.
        headerTimer->async_wait([&tcpStream, &timedOut](const error_code& waitError) {
          if (waitError) return;
          timedOut = true;
          error_code ignored;
          tcpStream.socket().cancel(ignored);
        });
      }
      const size_t n =
          co_await stream_.async_read_some(buffer_.prepare(kReadSize), net::redirect_error(kAwait, ec));
      if (timedOut) co_return beast::error::timeout;
      if (ec) {
        if (ec == net::error::eof || ec == net::ssl::error::stream_truncated)
          ec = gotBytes ? http::error::partial_message : http::error::end_of_stream;
        co_return ec;
      }
      buffer_.commit(n);
      if (!gotBytes) {
        gotBytes = true;
        handle_.idle = false;
        headerDeadline = Clock::now() + options_.headerTimeout;
        tcpStream.expires_never();
      }
    }
  }

  net::awaitable<void> replyToBadHeader(const error_code& ec) {
    Exchange ex;
    ex.start = Clock::now();
    ex.requestId = newRequestId(worker_.random());
    unsigned status = 400;
    std::string message = "malformed request: " + ec.message();
    if (ec == http::error::header_limit) {
      status = 431;
      message = "request header section too large";
    } else if (ec == beast::error::timeout) {
      status = 408;
      message = "request header not received in time";
    }
    co_await reply(ex, status, message, false);
    Request none;
    finish(none, ex);
  }

  // Routes and proxies one request. Returns whether the connection may serve another.
  net::awaitable<bool> handle(RequestParser& parser, Exchange& ex) {
    Request& req = parser.get();
    if (auto id = req.find("x-request-id"); id != req.end() && acceptableRequestId(id->value()))
      ex.requestId = std::string(id->value());
    else
      ex.requestId = newRequestId(worker_.random());
    http1::AdmittedRequest& rq = ex.request;
    if (auto refusal = http1::admitRequest(req, options_.admission, rq))
      co_return co_await reply(ex, refusal->status, refusal->message, false);
    const bool bodyPending = !parser.is_done();
    const bool clientKeepAlive = req.keep_alive() && !worker_.draining() && !bodyPending;
    ex.host = rq.host;
    if (rq.redirectTo) {
      ex.responseHeaders.emplace_back("location", *rq.redirectTo);
      co_return co_await reply(ex, 307, "redirecting to the path without escaped slashes", clientKeepAlive);
    }

    // Pin the table: this request finishes on it even if a new one is published.
    RouteTableConstSharedPtr table = worker_.table();
    if (!table) co_return co_await reply(ex, 503, "no routing table loaded yet", clientKeepAlive);
    if (!tls_ && table->redirectsToHttps(ex.host)) {
      std::string location = "https://" + ex.host;
      if (options_.httpsRedirectPort != 443) location += ":" + std::to_string(options_.httpsRedirectPort);
      location += rq.path;
      if (!rq.query.empty()) location += "?" + std::string(rq.query);
      ex.responseHeaders.emplace_back("location", std::move(location));
      co_return co_await reply(ex, 308, "redirecting to https", clientKeepAlive);
    }
    const BeastRequestView view(req, ex.host, rq.routingPath(), rq.query);
    const Route* route = table->match(view);
    if (!route) co_return co_await reply(ex, 404, "no route for this host and path", clientKeepAlive);
    ex.route = route;
    ex.tableRuntime = worker_.tableRuntime();
    ex.runtime = &ex.tableRuntime->routes[route->index];

    const uint64_t bodyLimit =
        route->spec.maxRequestBodyBytes ? route->spec.maxRequestBodyBytes : options_.maxRequestBodyBytes;
    if (rq.body == http1::Framing::Length && rq.contentLength > bodyLimit)
      co_return co_await reply(ex, 413, "request body larger than this route allows", false);
    parser.body_limit(bodyLimit);

    // X-Forwarded-For over several lines is one list (RFC 9110 5.3), for the trusted-proxy
    // walk and for the header sent upstream.
    ex.forwardedFor = http1::joinedValues(req, "x-forwarded-for");
    ex.clientAddress = worker_.gateway().clientAddress(clientIp_, ex.forwardedFor);
    policy::Admission& admission = ex.admission;
    const policy::RoutePolicies* policies = ex.runtime->policies;
    if (!policies) co_return co_await reply(ex, 503, "this route's policies failed to load", clientKeepAlive);
    if (!policies->empty()) {
      policy::Verdict verdict = policies->admit(view, ex.clientAddress, admission);
      if (verdict && policies->needsExternalAuth())
        verdict = co_await externalAuth(*route->spec.auth.external, req, rq.path, rq.query, ex, admission);
      if (verdict) verdict = policies->limit(view, ex.clientAddress, admission, worker_.gateway());
      if (!verdict) {
        // CORS headers too, so that a browser script can read why it was refused.
        for (auto& header : admission.responseHeaders) ex.responseHeaders.push_back(std::move(header));
        for (auto& header : verdict.replyHeaders) ex.responseHeaders.push_back(std::move(header));
        co_return co_await reply(ex, verdict.status, verdict.message, clientKeepAlive);
      }
      for (auto& header : admission.responseHeaders) ex.responseHeaders.push_back(std::move(header));
    }
    if (route->spec.redirect) {
      ex.responseHeaders.emplace_back("location",
                                      redirectLocation(*route->spec.redirect, ex.host, rq.path, rq.query));
      co_return co_await reply(ex, route->spec.redirect->status, "redirecting", clientKeepAlive);
    }

    const PickRequest pickRequest = pickRequestFor(route->spec, req, rq.routingPath(), rq.query, ex);
    const Pick pick = ex.runtime->balancer->pick(pickRequest, *ex.runtime->cursors, worker_.random());
    if (!pick) co_return co_await reply(ex, 503, "no endpoints available for this route", clientKeepAlive);

    if (bodyPending && beast::iequals(req[http::field::expect], "100-continue")) {
      // Portico reads the body itself, so it answers the expectation itself.
      static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
      error_code ec;
      beast::get_lowest_layer(stream_).expires_after(options_.bodyTimeout);
      co_await net::async_write(stream_, net::buffer(kContinue.data(), kContinue.size()),
                                net::redirect_error(kAwait, ec));
      if (ec) co_return false;
    }
    ex.clientKeepAlive = req.keep_alive();
    ex.clientVersion = req.version();
    planUpstreamRequest(req, *route, ex);
    co_return co_await forward(parser, *route, ex, pickRequest, pick);
  }

  std::string redirectLocation(const RedirectSpec& redirect, const std::string& host, const std::string& path,
                               std::string_view query) const {
    std::string location = redirect.scheme.value_or(tls_ ? "https" : "http") + "://" + redirect.host.value_or(host);
    if (redirect.port) location += ":" + std::to_string(*redirect.port);
    location += redirect.path.value_or(path);
    if (!query.empty()) location += "?" + std::string(query);
    return location;
  }

  // External authorization: the request's method, normalized target and chosen headers go
  // to the auth service (no body). 2xx admits and copies the chosen answer headers onto
  // the upstream request; any other answer goes back to the client with its status;
  // no answer in time fails closed (503) unless failOpen.
  net::awaitable<policy::Verdict> externalAuth(const ExternalAuthSpec& spec, const Request& req,
                                               std::string_view path, std::string_view query, Exchange& ex,
                                               policy::Admission& admission) {
    for (const auto& name : spec.upstreamHeaders) admission.removeUpstream.push_back(name);  // no spoofing
    auto url = parseHttpUrl(spec.url);
    if (!url || url->tls) co_return policy::Verdict{503, "external auth needs an http:// URL", {}};
    const EndpointSpec endpoint{url->host, url->port, 1};
    const std::string address = endpoint.address();
    const auto deadline = Clock::now() + spec.timeout;

    http::request<http::empty_body> check{req.method(), url->target, 11};
    check.set(http::field::host, url->host);
    check.set("x-forwarded-method", req.method_string());
    // The normalized path: the one the route matched and the backend will get.
    check.set("x-forwarded-uri", query.empty() ? std::string(path) : std::string(path) + "?" + std::string(query));
    check.set("x-forwarded-host", ex.host);
    check.set("x-forwarded-for", ex.clientAddress);
    check.set("x-forwarded-proto", tls_ ? "https" : "http");
    for (const auto& name : spec.forwardHeaders)
      if (auto it = req.find(name); it != req.end()) check.set(name, it->value());
    check.prepare_payload();

    error_code ec;
    UpstreamConnectionPtr conn = worker_.pool().take(address);
    if (!conn) conn = co_await connectTo(endpoint, spec.timeout, address, worker_.upstreams().backend("auth:" + spec.url), ec);
    http::response_parser<http::string_body> answer;
    answer.body_limit(64 * 1024);
    if (req.method() == http::verb::head) answer.skip(true);  // a HEAD answer has no body
    if (conn) {
      conn->stream.expires_at(deadline);
      co_await http::async_write(conn->stream, check, net::redirect_error(kAwait, ec));
      if (!ec) co_await http::async_read(conn->stream, conn->buffer, answer, net::redirect_error(kAwait, ec));
    }
    if (!conn || ec) {
      spdlog::warn("{} external auth {} failed: {}", ex.requestId, spec.url, ec.message());
      if (spec.failOpen) co_return policy::Verdict{};
      co_return policy::Verdict{503, "authorization service unavailable", {}};
    }
    const auto& res = answer.get();
    const unsigned status = res.result_int();
    if (res.keep_alive()) worker_.pool().put(std::move(conn), std::chrono::seconds(30));
    if (status >= 200 && status < 300) {
      for (const auto& name : spec.upstreamHeaders)
        if (auto it = res.find(name); it != res.end()) admission.setUpstream.emplace_back(name, std::string(it->value()));
      co_return policy::Verdict{};
    }
    policy::Verdict denied{status >= 300 && status < 600 ? status : 403, "denied by the authorization service", {}};
    for (auto name : {http::field::www_authenticate, http::field::location, http::field::set_cookie})
      for (auto it = res.find(name); it != res.end() && it->name() == name; ++it)
        denied.replyHeaders.emplace_back(std::string(it->name_string()), std::string(it->value()));
    co_return denied;
  }

  // The balancer's inputs from the request: the ConsistentHash key, the affinity cookie.
  PickRequest pickRequestFor(const RouteSpec& spec, const Request& req, std::string_view path,
                             std::string_view query, const Exchange& ex) const {
    PickRequest pr;
    pr.now = nowNanos();
    if (spec.loadBalancing == LoadBalancingPolicy::ConsistentHash) {
      std::optional<std::string_view> key;
      switch (spec.hashOn.source) {
        case HashSource::ClientIP:
          key = ex.clientAddress;
          break;
        case HashSource::Header:
          if (auto it = req.find(spec.hashOn.name); it != req.end()) key = it->value();
          break;
        case HashSource::Cookie:
          key = cookie(req, spec.hashOn.name);
          break;
        case HashSource::Query:
          key = router::findRawQueryValue(query, spec.hashOn.name);
          break;
        case HashSource::Path:
          key = path;
          break;
      }
      if (key) pr.hashKey = balancingHash(*key);  // no key: a random endpoint
    }
    if (spec.sessionAffinity) {
      if (auto value = cookie(req, spec.sessionAffinity->cookieName)) {
        uint64_t id = 0;
        const auto [end, ec] = std::from_chars(value->data(), value->data() + value->size(), id, 16);
        if (ec == std::errc() && end == value->data() + value->size()) pr.affinityId = id;
      }
    }
    return pr;
  }

  static std::optional<std::string_view> cookie(const Request& req, std::string_view name) {
    for (auto it = req.find(http::field::cookie); it != req.end() && it->name() == http::field::cookie; ++it)
      if (auto value = router::findCookie(it->value(), name)) return value;
    return std::nullopt;
  }

  // Tells the client which endpoint it is pinned to, when that changed.
  void setAffinityCookie(const RouteSpec& spec, const PickRequest& pr, const Pick& pick, Exchange& ex) {
    if (!spec.sessionAffinity || pr.affinityId == pick.affinityId) return;
    std::string value = spec.sessionAffinity->cookieName + "=" + fmt::format("{:016x}", pick.affinityId) +
                        "; Path=/; HttpOnly; SameSite=Lax";
    if (spec.sessionAffinity->ttl.count() > 0)
      value += "; Max-Age=" + std::to_string(std::max<int64_t>(1, spec.sessionAffinity->ttl.count() / 1000));
    if (tls_) value += "; Secure";
    ex.responseHeaders.emplace_back("set-cookie", std::move(value));
  }

  // What goes upstream, as a plan that the head writer turns into bytes on each try. The
  // forwarding headers are Portico's own, except X-Forwarded-Proto/-Host/-Port and
  // Forwarded from a trusted proxy, which are passed on; X-Forwarded-For is the client's
  // list (when any) plus the peer.
  void planUpstreamRequest(const Request& req, const Route& route, Exchange& ex) {
    const http1::AdmittedRequest& rq = ex.request;
    const policy::Admission& admission = ex.admission;
    http1::RequestHeadPlan& plan = ex.upstream;

    // Rewrites work on the path routing matched (";parameters" removed); without one the
    // backend gets the normalized path as it was.
    if (auto regexRewritten = ex.runtime->policies->regexRewrite(rq.routingPath()))
      ex.upstreamTarget = std::move(*regexRewritten);
    else if (route.spec.rewritePathPrefix)
      ex.upstreamTarget = rewrittenPath(route.spec, std::string(rq.routingPath()));
    else
      ex.upstreamTarget = rq.path;
    if (admission.removeQueryParam) {
      const std::string query = router::withoutQueryParam(rq.query, *admission.removeQueryParam);
      if (!query.empty()) ex.upstreamTarget += "?" + query;
    } else if (!rq.query.empty()) {
      ex.upstreamTarget += "?";
      ex.upstreamTarget += rq.query;
    }
    ex.head.reserve(1024);  // one allocation for the request's and the response's header
    plan.method = req.method_string();
    plan.target = ex.upstreamTarget;
    plan.host = route.spec.rewriteHost ? std::string_view(*route.spec.rewriteHost) : rq.authority;
    plan.upgrade = rq.upgrade;
    plan.edits = &route.spec.requestHeaders;
    plan.underscores = options_.admission.underscores;

    const bool trusted = worker_.gateway().trustsPeer(clientIp_);
    auto fromTrustedProxy = [&](std::string_view name) -> std::optional<std::string_view> {
      if (!trusted) return std::nullopt;
      auto it = req.find(name);
      if (it == req.end() || it->value().empty()) return std::nullopt;
      return it->value();
    };
    ex.forwardedFor += ex.forwardedFor.empty() ? clientIp_ : ", " + clientIp_;
    plan.own.reserve(8 + admission.setUpstream.size());
    plan.own.emplace_back("X-Forwarded-For", ex.forwardedFor);
    plan.own.emplace_back("X-Forwarded-Proto", fromTrustedProxy("x-forwarded-proto").value_or(tls_ ? "https" : "http"));
    if (auto host = fromTrustedProxy("x-forwarded-host")) plan.own.emplace_back("X-Forwarded-Host", *host);
    else if (!rq.authority.empty()) plan.own.emplace_back("X-Forwarded-Host", rq.authority);
    plan.own.emplace_back("X-Forwarded-Port", fromTrustedProxy("x-forwarded-port").value_or(localPort_));
    plan.own.emplace_back("X-Real-IP", ex.clientAddress);
    plan.own.emplace_back("X-Request-Id", ex.requestId);
    for (const auto& [name, value] : admission.setUpstream) plan.own.emplace_back(name, value);
    // Identity headers are only ever Portico's: a client's X-Consumer never passes, on
    // any route, and neither do the credentials and identity headers the policies name.
    plan.strip.reserve(2 + admission.removeUpstream.size());
    plan.strip.emplace_back("x-consumer");
    if (!trusted) plan.strip.emplace_back("forwarded");
    for (const auto& name : admission.removeUpstream) plan.strip.emplace_back(name);
  }

  static std::string rewrittenPath(const RouteSpec& spec, const std::string& path) {
    if (!spec.rewritePathPrefix) return path;
    const std::string& replacement = *spec.rewritePathPrefix;
    if (spec.pathType != PathMatchType::Prefix) return replacement;
    std::string_view prefix = spec.path;
    while (!prefix.empty() && prefix.back() == '/') prefix.remove_suffix(1);
    std::string_view rest = std::string_view(path).substr(prefix.size());
    std::string out = replacement;
    if (!out.empty() && out.back() == '/' && !rest.empty() && rest.front() == '/') rest.remove_prefix(1);
    out += rest;
    if (out.empty() || out.front() != '/') out.insert(out.begin(), '/');
    return out;
  }

  net::awaitable<UpstreamConnectionPtr> connectTo(const EndpointSpec& endpoint,
                                                   std::chrono::milliseconds timeout, const std::string& address,
                                                   const BackendStatePtr& backend, error_code& ec) {
    auto conn = std::make_unique<UpstreamConnection>(worker_.ioc(), backend);
    conn->endpoint = address;
    conn->stream.expires_after(timeout);
    error_code parseError;
    const auto ip = net::ip::make_address(endpoint.host, parseError);
    if (!parseError) {
      const tcp::endpoint target(ip, endpoint.port);
      co_await conn->stream.async_connect(target, net::redirect_error(kAwait, ec));
    } else {
      tcp::resolver resolver(worker_.ioc());
      const std::string port = std::to_string(endpoint.port);
      auto results = co_await resolver.async_resolve(endpoint.host, port, net::redirect_error(kAwait, ec));
      if (!ec) co_await conn->stream.async_connect(results, net::redirect_error(kAwait, ec));
    }
    if (ec) co_return nullptr;
    conn->stream.socket().set_option(tcp::no_delay(true), parseError);
    co_return conn;
  }

  // Sends the request upstream and the response back, retrying on another endpoint as the
  // route's retry policy allows. Separately, a pooled connection found closed before any
  // response byte is replaced by a fresh one once (bodiless requests only: nothing was
  // consumed that could not be sent again); that is not a retry.
  net::awaitable<bool> forward(RequestParser& parser, const Route& route, Exchange& ex,
                               const PickRequest& pickRequest, Pick pick) {
    Request& req = parser.get();
    const bool upgrade = !ex.request.upgrade.empty();
    const RouteSpec& spec = route.spec;
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
    BodyBuffer body(worker_);
    // Host is always sent: an HTTP/1.0 request without one gets the endpoint's address.
    const bool hostFromEndpoint = ex.upstream.host.empty();

    for (uint32_t attempt = 0;; ++attempt) {
      if (attempt > 0) {
        PickRequest next = pickRequest;
        next.tried = &tried;
        next.now = nowNanos();
        pick = ex.runtime->balancer->pick(next, *ex.runtime->cursors, worker_.random());
        if (!pick) co_return co_await reply(ex, 503, "no endpoints available for this route", false);
      }
      ex.endpoint = pick.endpoint;
      if (pick.backend->tls)  // never downgrade an https:// backend to plaintext
        co_return co_await reply(ex, 502, "https:// upstreams are not supported yet", false);
      EndpointState& endpointState = *pick.endpointState;
      BackendState& backendState = *pick.backendState;
      tried.push_back(&endpointState);

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
      for (bool freshRetryUsed = false;;) {
        conn = worker_.pool().take(address);
        if (!conn) {
          if (breaker.maxConnections &&
              backendState.connections.load(std::memory_order_relaxed) >= breaker.maxConnections)
            co_return co_await overflow(ex, OverflowReason::MaxConnections, !hasBody);
          CountGuard pending = CountGuard::acquire(backendState.pending, breaker.maxPendingRequests);
          if (!pending) co_return co_await overflow(ex, OverflowReason::MaxPendingRequests, !hasBody);
          error_code ec;
          conn = co_await connectTo(*pick.endpoint, std::min(spec.timeouts.connect, tryTimeout), address,
                                    ex.runtime->balancer->backendState(pick.backendIndex), ec);
          if (!conn) {
            failure = ec == beast::error::timeout ? TryFailure::ConnectTimeout : TryFailure::ConnectFailure;
            break;
          }
          endpointState.connectionsOpened.fetch_add(1, std::memory_order_relaxed);
        }
        const bool canReconnect = conn->reused && !hasBody && !freshRetryUsed;

        http1::RequestHeadPlan& plan = ex.upstream;
        if (hostFromEndpoint) plan.host = address;
        // The fields now, before any of the body (and its trailers) is parsed.
        http1::writeRequestHead(ex.head, req, plan);
        auto writeHead = [&](http1::Framing framing, uint64_t length) {
          http1::endRequestHead(ex.head, plan, framing, length);
        };
        const http1::AnnouncedFraming announced{ex.request.body, ex.request.contentLength, {}};
        uint64_t requestBytes = 0;
        const RelayResult sent =
            co_await relayMessage(stream_, buffer_, parser, conn->stream, ex.head, writeHead, announced, true,
                                  body.get(), Worker::kBodyBufferSize, options_.bodyTimeout, tryTimeout, requestBytes);
        if (sent.failed == Side::From) co_return co_await clientBodyFailed(ex, sent.ec);
        if (sent.failed == Side::To) {
          if (canReconnect) {
            freshRetryUsed = true;
            continue;
          }
          failure = sent.ec == beast::error::timeout ? TryFailure::Timeout : TryFailure::Reset;
          break;
        }
        const auto remaining = tryTimeout - std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - tryStart);
        error_code ec = co_await readResponseHeader(*conn, response, isHead,
                                                    std::max(remaining, std::chrono::milliseconds(1)));
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

      const unsigned status = failure ? 0 : response->get().result_int();
      recordOutcome(route, ex, pick, failure ? UpstreamOutcome::GatewayFailure
                                         : status >= 500 ? UpstreamOutcome::ServerError : UpstreamOutcome::Success);
      const bool wantRetry = retry && (failure ? retriesOn(*retry, *failure) : retriesOnStatus(*retry, status));
      if (wantRetry && attempt + 1 < maxTries && co_await retryAllowed(routeState, *retry, activeRetry, attempt, deadline))
        continue;  // the failed connection (or unread response) is dropped with `conn`

      if (failure) {
        const bool timedOut = *failure == TryFailure::Timeout || *failure == TryFailure::ConnectTimeout;
        worker_.metrics().recordUpstreamError(*failure == TryFailure::ConnectFailure ? UpstreamError::ConnectFailure
                                              : timedOut                             ? UpstreamError::Timeout
                                                                                     : UpstreamError::Reset);
        const char* message = *failure == TryFailure::ConnectFailure ? "upstream refused the connection"
                              : *failure == TryFailure::ConnectTimeout ? "upstream connect timed out"
                              : *failure == TryFailure::Timeout        ? "upstream response timed out"
                                                                       : "upstream reset the connection";
        co_return co_await reply(ex, timedOut ? 504 : 502, message,
                                 !hasBody && ex.clientKeepAlive && !worker_.draining());
      }
      setAffinityCookie(spec, pickRequest, pick, ex);
      ex.status = status;
      if (status == 101) {
        if (!upgrade || !beast::iequals(response->get()[http::field::upgrade], ex.request.upgrade)) {
          worker_.metrics().recordUpstreamError(UpstreamError::Reset);
          co_return co_await reply(ex, 502, "upstream switched to a protocol the client did not ask for", false);
        }
        co_await tunnel(*response, *conn, route, ex);
        co_return false;
      }
      co_return co_await relayResponse(*response, std::move(conn), route, req, ex, body.get());
    }
  }

  // A client that stopped sending its body: nothing useful can go back on this connection.
  net::awaitable<bool> clientBodyFailed(Exchange& ex, const error_code& ec) {
    if (ec == http::error::body_limit) co_await reply(ex, 413, "request body larger than this route allows", false);
    else if (ec == beast::error::timeout) co_await reply(ex, 408, "request body not received in time", false);
    else if (malformedBody(ec)) co_await reply(ex, 400, "malformed request body: " + ec.message(), false);
    else ex.status = 400;  // the client went away: nobody to answer
    co_return false;
  }

  net::awaitable<bool> overflow(Exchange& ex, OverflowReason reason, bool keepAlive) {
    worker_.upstreams().recordOverflow(reason);
    ex.responseHeaders.emplace_back("x-portico-overflow", toString(reason));
    co_return co_await reply(ex, 503, std::string("circuit breaker open: ") + toString(reason),
                             keepAlive && ex.clientKeepAlive && !worker_.draining());
  }

  void recordOutcome(const Route& route, const Exchange& ex, const Pick& pick, UpstreamOutcome outcome) {
    if (!route.spec.outlierDetection) return;
    const auto& peers = ex.runtime->balancer->endpointStates(pick.backendIndex);
    if (proxy::recordOutcome(*route.spec.outlierDetection, *pick.endpointState, *pick.backendState, peers, outcome,
                             nowNanos())) {
      worker_.upstreams().recordEjection();
      spdlog::warn("outlier detection: ejected {} (route {})", pick.endpointState->address, route.spec.name);
    }
  }

  // Whether one more try fits the retry budget and the request deadline; waits the
  // jittered backoff if so. The first retry of a request takes one slot of the route's
  // retry budget for the rest of the request.
  net::awaitable<bool> retryAllowed(RouteUpstreamState& routeState, const RetrySpec& retry, CountGuard& activeRetry,
                                    uint32_t attempt, Clock::time_point deadline) {
    if (Clock::now() >= deadline) co_return false;
    if (!activeRetry) {
      const int64_t active = routeState.activeRequests.load(std::memory_order_relaxed);
      const int64_t budget =
          std::max<int64_t>(retry.minRetriesInFlight, active * int64_t(retry.budgetPercent) / 100);
      if (routeState.activeRetries.load(std::memory_order_relaxed) >= budget) {
        worker_.upstreams().recordRetryBudgetExhausted();
        co_return false;
      }
      activeRetry = CountGuard(routeState.activeRetries);
    }
    worker_.upstreams().recordRetry();
    // Full jitter: uniform in [0, min(max, base * 2^attempt)].
    const int64_t ceiling = std::min<int64_t>(retry.backoffMax.count(),
                                              retry.backoffBase.count() << std::min<uint32_t>(attempt, 20));
    if (ceiling > 0) {
      const auto wait = std::chrono::milliseconds(int64_t(worker_.random()() % uint64_t(ceiling + 1)));
      if (Clock::now() + wait >= deadline) co_return false;
      net::steady_timer timer(worker_.ioc(), wait);
      error_code ec;
      co_await timer.async_wait(net::redirect_error(kAwait, ec));
    }
    co_return true;
  }

  net::awaitable<error_code> readResponseHeader(UpstreamConnection& conn, std::optional<ResponseParser>& response,
                                                bool isHead, std::chrono::milliseconds timeout) {
    error_code ec;
    conn.stream.expires_after(timeout);
    for (;;) {
      response.emplace();
      response->body_limit(kUnlimited);
      if (isHead) response->skip(true);
      co_await http::async_read_header(conn.stream, conn.buffer, *response, net::redirect_error(kAwait, ec));
      if (ec) co_return ec;
      const unsigned status = response->get().result_int();
      // Interim responses (100, 102, 103) are for this hop; Portico already answered 100.
      if (status >= 100 && status < 200 && status != 101) continue;
      co_return ec;
    }
  }

  // The response header for the client: the upstream's fields that pass the filter, the
  // route's edits, Portico's own (CORS, affinity), framing chosen by relayMessage.
  http1::ResponseHeadPlan responsePlan(const Route& route, Exchange& ex, unsigned status) const {
    http1::ResponseHeadPlan plan;
    plan.status = status;
    plan.http10Client = ex.clientVersion == 10;
    plan.edits = &route.spec.responseHeaders;
    plan.underscores = options_.admission.underscores;
    plan.own.reserve(ex.responseHeaders.size());
    for (const auto& [name, value] : ex.responseHeaders) plan.own.emplace_back(name, value);
    return plan;
  }

  net::awaitable<bool> relayResponse(ResponseParser& response, UpstreamConnectionPtr conn, const Route& route,
                                     const Request& req, Exchange& ex, char* bodyBuffer) {
    Response& res = response.get();
    const unsigned status = ex.status;
    const http1::AnnouncedFraming announced = http1::checkFraming(res, res.version() == 10);
    if (!announced.error.empty()) {
      // The connection is dropped with `conn`: its framing cannot be trusted.
      worker_.metrics().recordUpstreamError(UpstreamError::Reset);
      spdlog::warn("{} malformed response from {}: {}", ex.requestId, conn->endpoint, announced.error);
      co_return co_await reply(ex, 502, "upstream sent a malformed response", false);
    }
    const bool bodyless = req.method() == http::verb::head || status == 204 || status == 304;
    http1::AnnouncedFraming in = announced;
    if (bodyless) in = {};
    else if (in.framing == http1::Framing::None) in.framing = http1::Framing::UntilClose;
    const bool upstreamKeepAlive = res.keep_alive() && !response.need_eof() && in.framing != http1::Framing::UntilClose;
    const bool keepClient = ex.clientKeepAlive && !worker_.draining();

    http1::ResponseHeadPlan plan = responsePlan(route, ex, status);
    if (bodyless && announced.framing == http1::Framing::Length && status != 204)
      plan.representationLength = announced.length;
    // The fields now, before any of the body (and its trailers) is parsed.
    http1::writeResponseHead(ex.head, res, plan);
    bool keptAlive = keepClient;
    auto writeHead = [&](http1::Framing framing, uint64_t length) {
      // A body of unknown length goes to an HTTP/1.0 client until the connection closes.
      keptAlive = keepClient && framing != http1::Framing::UntilClose;
      http1::endResponseHead(ex.head, plan, framing, length, keptAlive);
    };
    const RelayResult relayed =
        co_await relayMessage(conn->stream, conn->buffer, response, stream_, ex.head, writeHead, in,
                              ex.clientVersion == 11, bodyBuffer, Worker::kBodyBufferSize,
                              route.spec.timeouts.request, options_.bodyTimeout, ex.responseBytes);
    if (relayed.failed == Side::From) {
      const UpstreamError kind = classify(relayed.ec);
      worker_.metrics().recordUpstreamError(kind);
      // Nothing sent yet (the upstream failed within the first body buffer): the client
      // can still get a proper error. Otherwise the header is gone already and the only
      // honest signal left is to cut the connection.
      if (!relayed.wroteSome)
        co_await reply(ex, kind == UpstreamError::Timeout ? 504 : 502,
                       kind == UpstreamError::Timeout ? "upstream response timed out"
                                                      : "upstream closed the connection mid-response",
                       false);
      co_return false;
    }
    if (relayed.failed == Side::To) co_return false;
    if (upstreamKeepAlive && response.is_done()) worker_.pool().put(std::move(conn), route.spec.timeouts.idle);
    co_return keptAlive;
  }

  // After a 101: pass the upgrade response on, then bytes both ways until one side ends.
  net::awaitable<void> tunnel(ResponseParser& response, UpstreamConnection& conn, const Route& route, Exchange& ex) {
    http1::ResponseHeadPlan plan = responsePlan(route, ex, 101);
    plan.upgrade = ex.request.upgrade;
    http1::writeResponseHead(ex.head, response.get(), plan);
    http1::endResponseHead(ex.head, plan, http1::Framing::None, 0, true);
    error_code ec;
    beast::get_lowest_layer(stream_).expires_after(options_.bodyTimeout);
    co_await net::async_write(stream_, net::buffer(ex.head), net::redirect_error(kAwait, ec));
    if (ec) co_return;
    // Bytes that arrived with the headers belong to the new protocol.
    if (conn.buffer.size()) {
      co_await net::async_write(stream_, conn.buffer.data(), net::redirect_error(kAwait, ec));
      conn.buffer.consume(conn.buffer.size());
    }
    if (buffer_.size()) {
      co_await net::async_write(conn.stream, buffer_.data(), net::redirect_error(kAwait, ec));
      buffer_.consume(buffer_.size());
    }
    if (ec) co_return;
    // Upstream-to-client runs as its own coroutine; this one waits for it on a timer
    // that the other cancels when done (Asio 1.74 has no awaitable operators).
    net::steady_timer otherDone(worker_.ioc(), Clock::time_point::max());
    bool finished = false;
    net::co_spawn(worker_.ioc(), pumpBytes(conn.stream, stream_), [&](std::exception_ptr) {
      finished = true;
      otherDone.cancel();
    });
    co_await pumpBytes(stream_, conn.stream);
    if (!finished) co_await otherDone.async_wait(net::redirect_error(kAwait, ec));
  }

  // Answers a request itself (errors, redirects).
  net::awaitable<bool> reply(Exchange& ex, unsigned status, std::string_view message, bool keepAlive) {
    http::response<http::string_body> res{static_cast<http::status>(status), 11};
    res.set(http::field::content_type, "application/json");
    res.set("x-request-id", ex.requestId);
    for (const auto& [name, value] : ex.responseHeaders) res.insert(name, value);
    if (status != 204 && status != 304) res.body() = errorBody(status, message, ex.requestId);
    else res.erase(http::field::content_type);
    res.keep_alive(keepAlive);
    res.prepare_payload();
    ex.status = status;
    ex.responseBytes = res.body().size();
    error_code ec;
    beast::get_lowest_layer(stream_).expires_after(options_.bodyTimeout);
    co_await http::async_write(stream_, res, net::redirect_error(kAwait, ec));
    co_return keepAlive && !ec;
  }

  void finish(const Request& req, const Exchange& ex) {
    const auto duration = Clock::now() - ex.start;
    worker_.metrics().recordResponse(ex.runtime ? ex.runtime->stats : nullptr, ex.status, duration);
    if (!options_.accessLog) return;
    std::string upstream = ex.endpoint ? ex.endpoint->address() : std::string();
    AccessRecord record{clientIp_, req.method_string(), req.target(), ex.host,
                        ex.route ? std::string_view(ex.route->spec.name) : std::string_view(),
                        upstream, ex.requestId, ex.status, ex.responseBytes, duration};
    logAccess(record, options_.accessLogJson);
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

  Worker& worker_;
  const ServerOptions& options_;
  Stream& stream_;
  std::string clientIp_;
  std::string localPort_;  // X-Forwarded-Port
  bool tls_;
  beast::flat_buffer buffer_;
  SessionHandle handle_;
};

std::string peerAddress(const tcp::socket& socket) {
  error_code ec;
  const auto endpoint = socket.remote_endpoint(ec);
  if (ec) return "unknown";
  auto address = endpoint.address();
  if (address.is_v6() && address.to_v6().is_v4_mapped())
    address = net::ip::make_address_v4(net::ip::v4_mapped, address.to_v6());
  return address.to_string();
}

void logSessionEnd(std::exception_ptr error) {
  if (!error) return;
  try {
    std::rethrow_exception(error);
  } catch (const std::exception& e) {
    spdlog::error("session ended by an exception: {}", e.what());
  }
}

// `slot` lives in the coroutine frame: the connection holds its place in the limit until it ends.
net::awaitable<void> serveHttp(Worker& worker, tcp::socket socket, [[maybe_unused]] Worker::ConnectionSlot slot) {
  std::string client = peerAddress(socket);
  beast::tcp_stream stream(std::move(socket));
  Session<beast::tcp_stream> session(worker, stream, std::move(client), false);
  co_await session.run();
}

net::awaitable<void> serveHttps(Worker& worker, tcp::socket socket, net::ssl::context& tls,
                                [[maybe_unused]] Worker::ConnectionSlot slot) {
  std::string client = peerAddress(socket);
  beast::ssl_stream<beast::tcp_stream> stream(beast::tcp_stream(std::move(socket)), tls);
  beast::get_lowest_layer(stream).expires_after(worker.options().headerTimeout);
  error_code ec;
  co_await stream.async_handshake(net::ssl::stream_base::server, net::redirect_error(kAwait, ec));
  if (ec) {
    spdlog::debug("tls handshake with {} failed: {}", client, ec.message());
    co_return;
  }
  Session<beast::ssl_stream<beast::tcp_stream>> session(worker, stream, std::move(client), true);
  co_await session.run();
}

}  // namespace

void startHttpSession(Worker& worker, tcp::socket socket, Worker::ConnectionSlot slot) {
  error_code ignored;
  socket.set_option(tcp::no_delay(true), ignored);
  net::co_spawn(worker.ioc(), serveHttp(worker, std::move(socket), std::move(slot)), logSessionEnd);
}

void startHttpsSession(Worker& worker, tcp::socket socket, net::ssl::context& tls, Worker::ConnectionSlot slot) {
  error_code ignored;
  socket.set_option(tcp::no_delay(true), ignored);
  net::co_spawn(worker.ioc(), serveHttps(worker, std::move(socket), tls, std::move(slot)), logSessionEnd);
}

}  // namespace portico::proxy
