#include "proxy/server/client_hello.h"

#include <openssl/bio.h>
#include <openssl/ssl.h>
#include <sys/socket.h>

#include <memory>
#include <optional>

#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "proxy/server/tls.h"

namespace portico::proxy {

namespace net = boost::asio;
using tcp = net::ip::tcp;
using error_code = boost::system::error_code;

namespace {

struct HelloCapture {
  bool seen = false;
  std::string serverName;
};

// Stops the handshake at the ClientHello, before anything is answered.
int captureHello(SSL* ssl, int*, void*) {
  auto* capture = static_cast<HelloCapture*>(SSL_get_app_data(ssl));
  capture->seen = true;
  const unsigned char* ext = nullptr;
  size_t length = 0;
  if (SSL_client_hello_get0_ext(ssl, TLSEXT_TYPE_server_name, &ext, &length) == 1)
    capture->serverName = std::string(serverNameExtensionHost({ext, length}));
  return SSL_CLIENT_HELLO_RETRY;
}

// One context for the process (SSL_new on a shared context is thread-safe); it serves no
// certificate because no handshake gets past the ClientHello.
SSL_CTX* parserContext() {
  static SSL_CTX* const ctx = [] {
    SSL_CTX* c = SSL_CTX_new(TLS_server_method());
    if (c) SSL_CTX_set_client_hello_cb(c, &captureHello, nullptr);
    return c;
  }();
  return ctx;
}

// The size the first records need in all, from their 5-byte headers (type, version,
// 16-bit length), so that a wait asks for the whole record rather than one more byte.
size_t recordBytesWanted(std::span<const unsigned char> bytes) {
  size_t end = 0;
  while (end + 5 <= bytes.size()) end += 5 + ((size_t{bytes[end + 3]} << 8) | bytes[end + 4]);
  return end > bytes.size() ? end : end + 5;
}

struct SslDeleter {
  void operator()(SSL* ssl) const { SSL_free(ssl); }
};

}  // namespace

ClientHelloParse parseClientHello(std::span<const unsigned char> bytes) {
  ClientHelloParse result;
  SSL_CTX* ctx = parserContext();
  if (!ctx || bytes.empty()) return result;
  std::unique_ptr<SSL, SslDeleter> ssl(SSL_new(ctx));
  if (!ssl) return result;
  BIO* in = BIO_new_mem_buf(bytes.data(), static_cast<int>(bytes.size()));
  BIO* out = BIO_new(BIO_s_mem());  // anything OpenSSL writes (an alert) is dropped with it
  if (!in || !out) {
    BIO_free(in);
    BIO_free(out);
    return result;
  }
  BIO_set_mem_eof_return(in, -1);  // the end of the bytes so far means "more may come"
  SSL_set_bio(ssl.get(), in, out);
  HelloCapture capture;
  SSL_set_app_data(ssl.get(), &capture);
  SSL_set_accept_state(ssl.get());
  const int rc = SSL_do_handshake(ssl.get());
  if (capture.seen) {
    result.status = ClientHelloParse::Status::Complete;
    result.serverName = std::move(capture.serverName);
  } else if (rc < 0 && SSL_get_error(ssl.get(), rc) == SSL_ERROR_WANT_READ && bytes.size() < kMaxClientHelloBytes) {
    result.status = ClientHelloParse::Status::Incomplete;
    result.bytesWanted = std::min(recordBytesWanted(bytes), kMaxClientHelloBytes);
  } else {
    result.status = ClientHelloParse::Status::NotTls;
  }
  return result;
}

net::awaitable<PeekedHello> peekClientHello(tcp::socket& socket, std::chrono::steady_clock::time_point deadline) {
  PeekedHello peeked;
  auto bytes = std::make_unique<unsigned char[]>(kMaxClientHelloBytes);
  const int fd = socket.native_handle();
  // The timer's handler may run after this frame is gone (it was already queued when the
  // peek ended): it reaches the socket only through `watch`, which is gone by then.
  struct Watch {
    tcp::socket* socket;
    bool timedOut = false;
  };
  auto watch = std::make_shared<Watch>(Watch{&socket});
  std::optional<net::steady_timer> timer;
  int lowWater = 1;
  for (;;) {
    const ssize_t n = ::recv(fd, bytes.get(), kMaxClientHelloBytes, MSG_PEEK | MSG_DONTWAIT);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) break;  // closed
    if (n > 0) {
      ClientHelloParse parse = parseClientHello({bytes.get(), static_cast<size_t>(n)});
      if (parse.status != ClientHelloParse::Status::Incomplete) {
        peeked.status = parse.status == ClientHelloParse::Status::Complete ? PeekedHello::Status::Complete
                                                                           : PeekedHello::Status::NotTls;
        peeked.serverName = std::move(parse.serverName);
        break;
      }
      // Readable only once the rest is there (or the client closes).
      lowWater = static_cast<int>(parse.bytesWanted);
      ::setsockopt(fd, SOL_SOCKET, SO_RCVLOWAT, &lowWater, sizeof lowWater);
    }
    if (!timer) {
      timer.emplace(socket.get_executor(), deadline);
      timer->async_wait([weak = std::weak_ptr<Watch>(watch)](const error_code& ec) {
        auto w = weak.lock();
        if (ec || !w) return;
        w->timedOut = true;
        error_code ignored;
        w->socket->cancel(ignored);
      });
    }
    error_code ec;
    co_await socket.async_wait(tcp::socket::wait_read, net::redirect_error(net::use_awaitable, ec));
    if (watch->timedOut) {
      peeked.status = PeekedHello::Status::TimedOut;
      break;
    }
    if (ec) break;
  }
  watch.reset();
  if (lowWater != 1) {
    const int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_RCVLOWAT, &one, sizeof one);
  }
  co_return peeked;
}

}  // namespace portico::proxy
