// A client connection speaking HTTP/1.1: the keep-alive loop, the header read with its
// deadlines, and what the connection owns between requests. Internal to the proxy.
//
// A plain connection idle for about a second holds its socket, its deadline and this
// object, and nothing else: it waits for readability with a callback, without a read
// buffer or any coroutine frame (client_connection.cc, PlainConnection). A coroutine is
// started when bytes arrive; the request's parser and Exchange live in its frame while the
// request is served. The read buffer is borrowed from the worker when bytes arrive and
// given back when the connection parks: a busy connection waits for its next request with
// a read into it, which costs Asio no epoll_ctl, where a wait for readability costs one.
// (A TLS connection keeps its coroutine and its buffer: the TLS layer may hold decrypted
// bytes that the socket's readability would not show.)
#pragma once

#include <string>

#include <boost/asio/awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>

#include "proxy/net/flex_stream.h"
#include "proxy/server/client_certificate.h"
#include "proxy/server/exchange.h"

namespace portico::proxy {

class ClientConnection {
 public:
  ClientConnection(Worker& worker, FlexStream& stream, std::string clientIp);
  ~ClientConnection();
  ClientConnection(const ClientConnection&) = delete;
  ClientConnection& operator=(const ClientConnection&) = delete;

  // The keep-alive loop of a TLS connection, to its end.
  boost::asio::awaitable<void> run();
  // One request, from its header to the end of its response; false: close afterwards.
  boost::asio::awaitable<bool> serveOne();
  // Idle from now on: the keep-alive deadline is set. False when the worker drains.
  bool prepareToWait();
  // Idle from now on (prepareToWait): reads the next request's first bytes in this frame
  // (Readable: they are in `buffer`) until the worker's idle sweep asks it to park (Park:
  // nothing came, the keep-alive deadline still runs), or the deadline or a drain ends it
  // (Close).
  enum class Wake { Readable, Park, Close };
  boost::asio::awaitable<Wake> waitWhileBusy();
  void takeReadBuffer();
  void lendBufferBackIfIdle();
  void close();

  Worker& worker;
  const ServerOptions& options;
  FlexStream& stream;
  boost::beast::flat_buffer buffer;  // bytes read past the current request's header
  const std::string clientIp;
  std::string localPort;     // X-Forwarded-Port
  std::string localAddress;  // routes of a Gateway with its own address match on it
  std::unique_ptr<TlsSessionFacts> tlsSession;  // TLS connections only, from the handshake
  bool tls() const { return stream.tls(); }

 private:
  boost::asio::awaitable<boost::system::error_code> readRequestHeader(RequestParser& parser, bool& gotBytes);
  boost::asio::awaitable<void> replyToBadHeader(RequestParser& parser, const boost::system::error_code& ec);
  void finish(Exchange& ex);

  SessionHandle handle_;
};

// The client's address as text (an IPv4-mapped IPv6 address as IPv4), or "unknown".
std::string peerAddress(const boost::asio::ip::tcp::socket& socket);
// The completion of a connection's coroutine: logs the exception that ended it, if any.
void logSessionEnd(std::exception_ptr error);

// Worker thread. Take ownership of an accepted socket and of its place in the connection
// limit, and serve it until it closes; the second after a TLS handshake with `tls` (the
// worker's SNI-selecting base context).
void startHttpSession(Worker& worker, boost::asio::ip::tcp::socket socket, Worker::ConnectionSlot slot);
void startHttpsSession(Worker& worker, boost::asio::ip::tcp::socket socket, boost::asio::ssl::context& tls,
                       Worker::ConnectionSlot slot);

}  // namespace portico::proxy
