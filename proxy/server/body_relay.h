// Relays one HTTP/1.1 message from a parser to a stream with framing Portico computes:
// the body is decoded by Beast's parser (Content-Length or chunked, trailers discarded)
// into a fixed buffer and written out again as Content-Length, chunks Portico writes, or
// raw bytes until close. The header section (built by http1::writeRequestHead or
// writeResponseHead) goes out with the first body piece. Internal to proxy/server.
#pragma once

#include <array>
#include <charconv>
#include <chrono>
#include <span>
#include <string>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/buffers_suffix.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/stream_traits.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/read.hpp>

#include "proxy/http/header_rules.h"
#include "proxy/http/http1_parser.h"

namespace portico::proxy {

enum class Side { None, From, To };
struct RelayResult {
  Side failed = Side::None;
  boost::system::error_code ec;
  bool wroteSome = false;  // the header (at least) went out
};

namespace relay_detail {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

// Feeds already-received bytes to the parser without I/O, until they run out, the body
// buffer is full, or the message ends.
template <bool isRequest>
void parseBuffered(http1::Http1Parser<isRequest>& parser, beast::flat_buffer& buffer, boost::system::error_code& ec) {
  while (buffer.size() > 0 && !parser.is_done() && parser.body().size > 0) {
    const size_t n = parser.put(buffer.data(), ec);
    buffer.consume(n);
    if (ec == http::error::need_more || ec == http::error::need_buffer) {
      ec = {};
      if (n == 0) break;
    } else if (ec) {
      return;
    }
  }
}

// The next piece of the decoded body into `data` from the bytes received already: at most
// `capacity` bytes in `n`, none when the message ended. False when there is nothing to
// decode yet and readPiece must read. Body bytes that came in with the header are parsed
// in place: an async read would complete at once, but only after a round trip through the
// scheduler, and a coroutine frame.
template <bool isRequest>
bool bufferedPiece(beast::flat_buffer& fromBuffer, http1::Http1Parser<isRequest>& parser, char* data, size_t capacity,
                   size_t& n, boost::system::error_code& ec) {
  n = 0;
  if (parser.is_done()) return true;
  http1::BodyBuffer& body = parser.body();
  body.data = data;
  body.size = capacity;
  parseBuffered(parser, fromBuffer, ec);
  n = capacity - body.size;
  return ec || parser.is_done() || n > 0;
}

// After bufferedPiece said false: reads until the piece has at least one byte or the
// message ends, and returns its size. Whatever a read brings goes on: a streamed body
// (server-sent events, a slow download) as it arrives, not once a buffer is full.
template <bool isRequest, class From>
net::awaitable<size_t> readPiece(From& from, beast::flat_buffer& fromBuffer, http1::Http1Parser<isRequest>& parser,
                                 size_t capacity, std::chrono::milliseconds timeout, boost::system::error_code& ec) {
  http1::BodyBuffer& body = parser.body();
  while (!ec && !parser.is_done() && body.size == capacity) {
    beast::get_lowest_layer(from).expires_after(timeout);
    co_await http::async_read_some(from, fromBuffer, parser, net::redirect_error(net::use_awaitable, ec));
    if (ec == http::error::need_buffer) ec = {};
  }
  co_return capacity - body.size;
}

// "<hex size>\r\n" into `out`; returns its length.
inline size_t chunkHeader(size_t size, char (&out)[24]) {
  char* end = std::to_chars(out, out + 20, size, 16).ptr;
  *end++ = '\r';
  *end++ = '\n';
  return size_t(end - out);
}

}  // namespace relay_detail

// Relays the body `parser` is reading from `from` to `to`, preceded by `head`, which
// `writeHead(framing, length)` completes with the framing chosen here. `in` is the framing the peer announced
// (UntilClose for a response with neither Content-Length nor chunked, None for no body);
// `chunkedOut` says how a body of unknown length goes out: chunked (true) or raw until
// the connection closes (false, for HTTP/1.0 clients). A body that is complete with its
// first piece goes out with a Content-Length, whatever its input framing. Reads time out
// after `readTimeout` of silence, writes after `writeTimeout`. `bytes` counts body bytes.
template <bool isRequest, class From, class To, class WriteHead>
boost::asio::awaitable<RelayResult> relayMessage(From& from, boost::beast::flat_buffer& fromBuffer,
                                                 http1::Http1Parser<isRequest>& parser,
                                                 To& to, std::string& head, WriteHead& writeHead,
                                                 const http1::AnnouncedFraming& announced,
                                                 bool chunkedOut, char* buffer, size_t capacity,
                                                 std::chrono::milliseconds readTimeout,
                                                 std::chrono::milliseconds writeTimeout, uint64_t& bytes) {
  namespace net = boost::asio;
  namespace beast = boost::beast;
  using http1::Framing;
  using relay_detail::chunkHeader;
  static constexpr std::string_view kCrlf = "\r\n", kLastChunk = "0\r\n\r\n";
  boost::system::error_code ec;
  const Framing in = announced.framing;

  size_t n = 0;
  if (in != Framing::None && !relay_detail::bufferedPiece(fromBuffer, parser, buffer, capacity, n, ec))
    n = co_await relay_detail::readPiece(from, fromBuffer, parser, capacity, readTimeout, ec);
  if (ec) co_return RelayResult{Side::From, ec, false};
  Framing out = in;
  if (in == Framing::None) out = Framing::None;
  else if (parser.is_done()) out = Framing::Length;  // the whole body is here: its length is known
  else if (in != Framing::Length) out = chunkedOut ? Framing::Chunked : Framing::UntilClose;
  writeHead(out, in == Framing::Length ? announced.length : uint64_t(n));

  bool headSent = false;
  for (;;) {
    const bool last = in == Framing::None || parser.is_done();
    char size[24];
    std::array<net::const_buffer, 5> pieces;
    size_t count = 0;
    if (!headSent) pieces[count++] = net::buffer(head);
    if (n > 0) {
      if (out == Framing::Chunked) pieces[count++] = net::buffer(size, chunkHeader(n, size));
      pieces[count++] = net::buffer(buffer, n);
      if (out == Framing::Chunked) pieces[count++] = net::buffer(kCrlf.data(), kCrlf.size());
    }
    if (last && out == Framing::Chunked) pieces[count++] = net::buffer(kLastChunk.data(), kLastChunk.size());
    bytes += n;
    if (count > 0) {
      beast::get_lowest_layer(to).expires_after(writeTimeout);
      const std::span<const net::const_buffer> all(pieces.data(), count);
      const size_t done = to.writeNow(all, ec);
      if (!ec && done < net::buffer_size(all)) {
        beast::buffers_suffix<std::span<const net::const_buffer>> rest(all);
        rest.consume(done);
        co_await net::async_write(to, rest, net::redirect_error(net::use_awaitable, ec));
      }
      if (ec) co_return RelayResult{Side::To, ec, headSent};
    }
    headSent = true;
    if (last) co_return RelayResult{Side::None, {}, true};
    if (!relay_detail::bufferedPiece(fromBuffer, parser, buffer, capacity, n, ec))
      n = co_await relay_detail::readPiece(from, fromBuffer, parser, capacity, readTimeout, ec);
    if (ec) co_return RelayResult{Side::From, ec, true};
  }
}

}  // namespace portico::proxy
