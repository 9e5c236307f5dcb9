// A client connection speaking HTTP/1.1: the keep-alive loop, the header read with its
// deadlines, and what the connection owns between requests. Internal to the proxy.
//
// Between requests a plain connection holds its socket, its deadline and this object, and
// nothing else: it waits for readability without a read buffer, and the request's parser
// and Exchange live in a coroutine frame that exists only while a request is served. The
// read buffer is borrowed from the worker when bytes arrive and given back once the
// connection is idle with nothing buffered. (A TLS connection keeps its buffer: the TLS
// layer may hold decrypted bytes that the socket's readability would not show.)
#pragma once

#include <string>

#include <boost/asio/awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>

#include "proxy/server/client_stream.h"
#include "proxy/server/exchange.h"

namespace portico::proxy {

class ClientConnection {
 public:
  ClientConnection(Worker& worker, ClientStream& stream, std::string clientIp);
  ~ClientConnection();
  ClientConnection(const ClientConnection&) = delete;
  ClientConnection& operator=(const ClientConnection&) = delete;

  boost::asio::awaitable<void> run();

  Worker& worker;
  const ServerOptions& options;
  ClientStream& stream;
  boost::beast::flat_buffer buffer;  // bytes read past the current request's header
  const std::string clientIp;
  std::string localPort;  // X-Forwarded-Port
  bool tls() const { return stream.tls(); }

 private:
  // Waits until the next request's first bytes can be read; false: the connection ends.
  boost::asio::awaitable<bool> awaitNextRequest();
  // One request, from its header to the end of its response; false: close afterwards.
  boost::asio::awaitable<bool> serveOne();
  boost::asio::awaitable<boost::system::error_code> readRequestHeader(RequestParser& parser, bool& gotBytes);
  boost::asio::awaitable<void> replyToBadHeader(RequestParser& parser, const boost::system::error_code& ec);
  void finish(Exchange& ex);
  void lendBufferBackIfIdle();

  SessionHandle handle_;
};

// Worker thread. Take ownership of an accepted socket and of its place in the connection
// limit, and serve it until it closes; the second after a TLS handshake with `tls` (the
// worker's SNI-selecting base context).
void startHttpSession(Worker& worker, boost::asio::ip::tcp::socket socket, Worker::ConnectionSlot slot);
void startHttpsSession(Worker& worker, boost::asio::ip::tcp::socket socket, boost::asio::ssl::context& tls,
                       Worker::ConnectionSlot slot);

}  // namespace portico::proxy
