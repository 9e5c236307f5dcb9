// The server name of a client's TLS ClientHello, read without consuming it: TLS passthrough
// routes a connection by that name and then hands the untouched bytes to the backend, or
// (on the HTTPS listener, for a name no stream route takes) to Portico's own TLS
// termination. Internal to the proxy.
//
// The bytes are read with MSG_PEEK, so they stay in the socket's receive queue for whoever
// reads next. Parsing is OpenSSL's: a throwaway server SSL object is fed the peeked bytes
// from a memory BIO and stopped in its ClientHello callback, which reads the server_name
// extension; no record or handshake parsing of our own. A ClientHello split over several
// TCP segments (post-quantum key shares make them ~1.8 KB) is waited for with SO_RCVLOWAT
// set to the bytes still missing, so the wait wakes once, not once per segment.
#pragma once

#include <chrono>
#include <cstddef>
#include <span>
#include <string>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>

namespace portico::proxy {

struct ClientHelloParse {
  enum class Status { Complete, Incomplete, NotTls };
  Status status = Status::Incomplete;
  std::string serverName;  // Complete only; empty when the hello names no host
  size_t bytesWanted = 0;  // Incomplete: at least this many bytes in all are needed
};

// What the first `bytes` of a connection say. Pure; any thread.
ClientHelloParse parseClientHello(std::span<const unsigned char> bytes);

// The most a ClientHello may take before the connection is treated as not TLS.
constexpr size_t kMaxClientHelloBytes = 16 * 1024 + 5;

struct PeekedHello {
  enum class Status { Complete, NotTls, Closed, TimedOut };
  Status status = Status::Closed;
  std::string serverName;
};

// Waits (until `deadline`) for the socket's ClientHello and returns its server name; the
// socket's bytes are left unread and its receive low-water mark as it was (1).
boost::asio::awaitable<PeekedHello> peekClientHello(boost::asio::ip::tcp::socket& socket,
                                                    std::chrono::steady_clock::time_point deadline);

}  // namespace portico::proxy
