// A connection's byte stream: a TimedSocket, with TLS on top for the HTTPS listener and
// for https upstreams. One type for both, so that the request pipeline and the body relay
// are compiled once rather than once per transport and direction (the shape of Beast's
// "flex" example, without detection). Reads and writes dispatch on a flag to the socket
// or the TLS stream; no frame, no allocation. Worker thread only. Internal to the proxy.
#pragma once

#include <memory>

#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>

#include "proxy/net/timed_socket.h"

namespace portico::proxy {

class FlexStream {
 public:
  using executor_type = TimedSocket::executor_type;
  using TlsStream = boost::asio::ssl::stream<TimedSocket&>;

  explicit FlexStream(boost::asio::io_context& ioc) : socket_(ioc) {}
  explicit FlexStream(boost::asio::ip::tcp::socket socket) : socket_(std::move(socket)) {}
  FlexStream(boost::asio::ip::tcp::socket socket, boost::asio::ssl::context& tls)
      : socket_(std::move(socket)), tls_(std::make_unique<TlsStream>(socket_, tls)) {}

  // From now on reads and writes go through TLS (an upstream, once its socket connected);
  // the handshake is the caller's.
  void startTls(boost::asio::ssl::context& tls) { tls_ = std::make_unique<TlsStream>(socket_, tls); }

  executor_type get_executor() noexcept { return socket_.get_executor(); }
  // For beast::get_lowest_layer().
  TimedSocket& next_layer() { return socket_; }
  TimedSocket& timed() { return socket_; }
  bool tls() const { return tls_ != nullptr; }
  TlsStream& tlsStream() { return *tls_; }

  // TimedSocket::writeNow on a plain connection; through TLS nothing is written here (0).
  size_t writeNow(std::span<const boost::asio::const_buffer> buffers, boost::system::error_code& ec) {
    return tls_ ? 0 : socket_.writeNow(buffers, ec);
  }

  template <class MutableBuffers, class Token>
  auto async_read_some(const MutableBuffers& buffers, Token&& token) {
    return boost::asio::async_initiate<Token, void(boost::system::error_code, size_t)>(
        [this](auto handler, const MutableBuffers& b) {
          if (tls_) tls_->async_read_some(b, std::move(handler));
          else socket_.async_read_some(b, std::move(handler));
        },
        token, buffers);
  }

  template <class ConstBuffers, class Token>
  auto async_write_some(const ConstBuffers& buffers, Token&& token) {
    return boost::asio::async_initiate<Token, void(boost::system::error_code, size_t)>(
        [this](auto handler, const ConstBuffers& b) {
          if (tls_) tls_->async_write_some(b, std::move(handler));
          else socket_.async_write_some(b, std::move(handler));
        },
        token, buffers);
  }

 private:
  TimedSocket socket_;
  // On the heap: a plain connection does not carry the TLS stream's few hundred bytes.
  std::unique_ptr<TlsStream> tls_;
};

}  // namespace portico::proxy
