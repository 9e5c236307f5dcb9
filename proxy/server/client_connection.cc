#include "proxy/server/client_connection.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/http/error.hpp>
#include <spdlog/spdlog.h>

#include "proxy/net/exact_size_allocator.h"
#include "proxy/server/access_log.h"
#include "proxy/server/http_errors.h"

namespace portico::proxy {

namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
using boost::system::error_code;
using Clock = std::chrono::steady_clock;
constexpr auto kAwait = net::use_awaitable;
constexpr size_t kReadSize = 16 * 1024;

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

// A plain connection, on the heap. While it is busy (it served a request less than about
// a second ago) a coroutine serves it and waits for its next request in its frame, which
// costs a keep-alive request nothing extra. Once the worker's idle sweep finds it idle
// that long it is parked: the coroutine ends and a plain callback that owns the
// connection waits for readability, so an idle connection holds no coroutine frame at
// all; bytes arriving start a coroutine again. `slot` holds its place in the connection
// limit until it is destroyed.
struct PlainConnection {
  PlainConnection(Worker& worker, tcp::socket socket, std::string client, Worker::ConnectionSlot connectionSlot)
      : stream(std::move(socket)), connection(worker, stream, std::move(client)), slot(std::move(connectionSlot)) {}
  FlexStream stream;
  ClientConnection connection;
  [[maybe_unused]] Worker::ConnectionSlot slot;
};

void park(std::unique_ptr<PlainConnection> plain);

// The parked wait's handler: it owns the connection, which an error destroys with it.
struct ParkedWait {
  using allocator_type = ExactSizeAllocator<void>;
  allocator_type get_allocator() const noexcept { return {}; }
  void operator()(const error_code& ec);
  std::unique_ptr<PlainConnection> plain;
};

// From readability until the connection is parked (or ends).
net::awaitable<void> serveAwake(std::unique_ptr<PlainConnection> plain) {
  ClientConnection& connection = plain->connection;
  for (;;) {
    connection.takeReadBuffer();
    do {
      if (!co_await connection.serveOne() || connection.worker.draining()) {
        connection.close();
        co_return;
      }
    } while (connection.buffer.size() > 0);  // pipelined: the next request is here already
    switch (co_await connection.waitWhileBusy()) {
      case ClientConnection::Wake::Readable:
        break;
      case ClientConnection::Wake::Park:
        connection.lendBufferBackIfIdle();
        park(std::move(plain));
        co_return;
      case ClientConnection::Wake::Close:
        connection.close();
        co_return;
    }
  }
}

// Its keep-alive deadline is set already.
void park(std::unique_ptr<PlainConnection> plain) {
  if (plain->connection.worker.draining()) return;  // closed as it is destroyed
  tcp::socket& socket = plain->stream.timed().socket();
  // Readable, or closed, reset, timed out or drained: a read tells which.
  socket.async_wait(tcp::socket::wait_read, ParkedWait{std::move(plain)});
}

void ParkedWait::operator()(const error_code& ec) {
  if (ec) return;
  net::io_context& ioc = plain->connection.worker.ioc();
  net::co_spawn(ioc, serveAwake(std::move(plain)), logSessionEnd);
}

net::awaitable<void> serveTls(Worker& worker, tcp::socket socket, net::ssl::context& tls,
                              [[maybe_unused]] Worker::ConnectionSlot slot) {
  std::string client = peerAddress(socket);
  error_code ec;
  socket.set_option(tcp::no_delay(true), ec);
  FlexStream stream(std::move(socket), tls);
  stream.timed().expires_after(worker.options().headerTimeout);
  co_await stream.tlsStream().async_handshake(net::ssl::stream_base::server, net::redirect_error(kAwait, ec));
  if (ec) {
    spdlog::debug("tls handshake with {} failed: {}", client, ec.message());
    co_return;
  }
  ClientConnection connection(worker, stream, std::move(client));
  connection.tlsSession = std::make_unique<TlsSessionFacts>(tlsSessionFacts(stream.tlsStream().native_handle()));
  co_await connection.run();
}

}  // namespace

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


ClientConnection::ClientConnection(Worker& w, FlexStream& s, std::string ip)
    : worker(w), options(w.options()), stream(s), clientIp(std::move(ip)) {
  handle_.stream = &stream.timed();
  error_code ec;
  const auto local = stream.timed().socket().local_endpoint(ec);
  localPort = std::to_string(local.port());
  localAddress = local.address().to_string();
  worker.registerSession(&handle_);
}

ClientConnection::~ClientConnection() {
  worker.unregisterSession(&handle_);
  worker.returnReadBuffer(std::move(buffer));
}

net::awaitable<void> ClientConnection::run() {
  takeReadBuffer();
  while (buffer.size() > 0 || prepareToWait()) {
    const bool keepAlive = co_await serveOne();
    if (!keepAlive || worker.draining()) break;
  }
  close();
}

bool ClientConnection::prepareToWait() {
  handle_.idle = true;
  if (worker.draining()) return false;
  stream.timed().expires_after(options.keepAliveTimeout);
  return true;
}

net::awaitable<ClientConnection::Wake> ClientConnection::waitWhileBusy() {
  if (!prepareToWait()) co_return Wake::Close;
  handle_.waitingInFrame = true;
  handle_.sweepMark = false;
  // A read, not a wait for readability: Asio re-arms the descriptor (epoll_ctl) for every
  // wait, but not for a read, which the reactor also performs as soon as the bytes arrive.
  // A busy connection keeps its read buffer for it; parking gives the buffer back.
  error_code ec;
  takeReadBuffer();
  const size_t n = co_await stream.async_read_some(buffer.prepare(kReadSize), net::redirect_error(kAwait, ec));
  handle_.waitingInFrame = false;
  const bool park = std::exchange(handle_.parkRequested, false);
  if (!ec) {
    buffer.commit(n);
    co_return Wake::Readable;
  }
  if (park && ec == net::error::operation_aborted && !stream.timed().timedOut() && !worker.draining())
    co_return Wake::Park;
  co_return Wake::Close;
}

void ClientConnection::close() {
  error_code ignored;
  stream.timed().socket().shutdown(tcp::socket::shutdown_both, ignored);
  stream.timed().close();
}

void ClientConnection::takeReadBuffer() {
  if (buffer.capacity() == 0) buffer = worker.takeReadBuffer();
}

void ClientConnection::lendBufferBackIfIdle() {
  if (!tls() && buffer.size() == 0 && buffer.capacity() > 0) worker.returnReadBuffer(std::move(buffer));
}

net::awaitable<bool> ClientConnection::serveOne() {
  RequestParser parser;
  parser.header_limit(static_cast<uint32_t>(options.maxHeaderBytes));
  parser.body_limit(kUnlimitedBody);  // the route's limit is applied once it is known
  bool gotBytes = false;
  const error_code ec = co_await readRequestHeader(parser, gotBytes);
  handle_.idle = false;
  if (ec) {
    if (gotBytes) co_await replyToBadHeader(parser, ec);
    co_return false;
  }
  Exchange ex(*this, parser);
  ex.start = Clock::now();
  const bool keepAlive = co_await serveRequest(ex);
  finish(ex);
  co_return keepAlive;
}

// Reads until a complete request header is parsed. The first byte may take up to the
// keep-alive timeout (then the connection just closes); from there the whole header must
// arrive within the header timeout, or the client is told 408 (slow-loris clients are
// cut). That deadline cancels the read rather than closing the socket, so the 408 can
// still be written; its timer exists only while a partial header is waited for.
net::awaitable<error_code> ClientConnection::readRequestHeader(RequestParser& parser, bool& gotBytes) {
  TimedSocket& timed = stream.timed();
  gotBytes = buffer.size() > 0;
  auto headerDeadline = Clock::now() + options.headerTimeout;
  if (gotBytes) timed.expires_never();
  std::optional<net::steady_timer> headerTimer;
  bool timedOut = false;
  error_code ec;
  bool afterNewline = false;
  size_t headerBytes = 0;
  for (;;) {
    if (buffer.size() > 0) {
      // put() may consume part of the header (the start line, complete field lines) and
      // still say need_more: those bytes must be consumed, or the next put() parses them
      // again. Beast 1.74 applies header_limit to each put() alone, so the total is
      // checked here.
      const size_t n = parser.put(buffer.data(), ec);
      if ((!ec || ec == http::error::need_more) && hasObsFold(buffer.data(), n, afterNewline))
        ec = http::error::bad_field;
      buffer.consume(n);
      headerBytes += n;
      if ((!ec || ec == http::error::need_more) &&
          headerBytes + (parser.is_header_done() ? 0 : buffer.size()) > options.maxHeaderBytes)
        ec = http::error::header_limit;
      if (ec != http::error::need_more) {
        if (ec || parser.is_header_done()) co_return ec;
        continue;
      }
      ec = {};
      if (n > 0) continue;  // the rest may already be complete
    }
    if (worker.draining() && !gotBytes) co_return http::error::end_of_stream;
    if (gotBytes && !headerTimer) {
      headerTimer.emplace(worker.ioc(), headerDeadline);
      // Runs after the timer is gone only with an error, and then touches nothing.
      headerTimer->async_wait([&timed, &timedOut](const error_code& waitError) {
        if (waitError) return;
        timedOut = true;
        error_code ignored;
        timed.socket().cancel(ignored);
      });
    }
    const size_t n = co_await stream.async_read_some(buffer.prepare(kReadSize), net::redirect_error(kAwait, ec));
    if (timedOut) co_return beast::error::timeout;
    if (ec) {
      if (ec == net::error::eof || ec == net::ssl::error::stream_truncated)
        ec = gotBytes ? http::error::partial_message : http::error::end_of_stream;
      co_return ec;
    }
    buffer.commit(n);
    if (!gotBytes) {
      gotBytes = true;
      handle_.idle = false;
      headerDeadline = Clock::now() + options.headerTimeout;
      timed.expires_never();
    }
  }
}

net::awaitable<void> ClientConnection::replyToBadHeader(RequestParser& parser, const error_code& ec) {
  Exchange ex(*this, parser);
  ex.start = Clock::now();
  ex.requestId = newRequestId(worker.random());
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
  parser.head().clear();  // only what was read of it: nothing to log from a bad header
  finish(ex);
}

void ClientConnection::finish(Exchange& ex) {
  const auto duration = Clock::now() - ex.start;
  worker.metrics().recordResponse(ex.runtime ? ex.runtime->stats : nullptr, ex.status, duration);
  if (!options.accessLog) return;
  const Request& req = ex.req();
  std::string upstream = ex.endpoint ? ex.endpoint->address() : std::string();
  AccessRecord record{clientIp, req.method_string(), req.target(), ex.host,
                      ex.route ? std::string_view(ex.route->spec.name) : std::string_view(),
                      upstream, ex.requestId, ex.status, ex.responseBytes, duration};
  logAccess(record, options.accessLogJson);
}

Exchange::Exchange(ClientConnection& connection, RequestParser& requestParser)
    : conn(connection),
      worker(connection.worker),
      options(connection.options),
      parser(requestParser),
      head(connection.worker.takeHeadBuffer()) {}

Exchange::~Exchange() { worker.returnHeadBuffer(std::move(head)); }

void startHttpSession(Worker& worker, tcp::socket socket, Worker::ConnectionSlot slot) {
  std::string client = peerAddress(socket);
  error_code ec;
  socket.set_option(tcp::no_delay(true), ec);
  auto plain = std::make_unique<PlainConnection>(worker, std::move(socket), std::move(client), std::move(slot));
  if (plain->connection.prepareToWait()) park(std::move(plain));
}

void startHttpsSession(Worker& worker, tcp::socket socket, net::ssl::context& tls, Worker::ConnectionSlot slot) {
  net::co_spawn(worker.ioc(), serveTls(worker, std::move(socket), tls, std::move(slot)), logSessionEnd);
}

}  // namespace portico::proxy
