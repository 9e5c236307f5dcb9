// One request/response exchange as it passes through the pipeline's stages:
//
//   client_connection  accept, TLS, keep-alive loop, deadlines, drain; reads the header
//   request_stream     admission, routing, body limit, filters, balancing, upstream plan
//   filter_chain       the route's policies as filters, each able to suspend the request
//                      (FilterChain, filter_chain.h)
//   upstream_exchange  pick, breakers, connect, retries, per-try timeouts
//   response_relay     the response back (or a tunnel after 101)
//   local_reply        answers Portico gives itself
//
// Each stage is a file; they share this state and call each other through the
// declarations below. The stages read the request as a codec-neutral message head
// (proxy/http/message_head.h: method, target, version, fields); the HTTP/1.1 codec
// (ClientConnection with http1::Http1Parser) fills it from the wire. An HTTP/2 codec fills
// the same head from its decoded header block and provides the same Exchange and
// local-reply/relay entry points for its streams. Worker thread only. Internal to the
// proxy.
#pragma once

#include <chrono>
#include <string>
#include <utility>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "proxy/http/forwarding_plan.h"
#include "proxy/http/head_writer.h"
#include "proxy/http/http1_parser.h"
#include "proxy/http/request_admission.h"
#include "proxy/policy/route_policies.h"
#include "proxy/server/worker.h"

namespace portico::proxy {

class ClientConnection;

using RequestParser = http1::Http1Parser<true>;
using ResponseParser = http1::Http1Parser<false>;
using Request = http1::RequestHead;
using Response = http1::ResponseHead;

// "No limit". Not boost::none: Beast 1.74 compares a Content-Length with the optional
// limit, and any number is greater than an empty optional.
inline constexpr uint64_t kUnlimitedBody = std::numeric_limits<uint64_t>::max();

struct Exchange {
  using Clock = std::chrono::steady_clock;
  Exchange(ClientConnection& connection, RequestParser& requestParser);
  ~Exchange();
  Exchange(const Exchange&) = delete;
  Exchange& operator=(const Exchange&) = delete;

  ClientConnection& conn;
  Worker& worker;
  const ServerOptions& options;
  RequestParser& parser;
  Request& req() { return parser.head(); }

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
  // Added to whatever response the client gets (affinity cookie, CORS, RateLimit-*).
  std::vector<std::pair<std::string, std::string>> responseHeaders;
  policy::Admission admission;
  // The upstream request (views into the client's header and the route spec), and the
  // header section written from it, then reused for the response's (lent by the worker).
  http1::ForwardingPlan forwarding;
  std::string head;
};

// request_stream.cc: routes and proxies one request whose header has been read. Returns
// whether the connection may serve another.
boost::asio::awaitable<bool> serveRequest(Exchange& ex);

// upstream_exchange.cc: sends the request to `pick` (retrying elsewhere as the route
// allows) and relays the answer. Returns whether the client connection may go on.
boost::asio::awaitable<bool> forwardUpstream(Exchange& ex, const PickRequest& pickRequest, Pick pick);

// response_relay.cc: the response (or, after a 101, the tunnel) back to the client.
boost::asio::awaitable<bool> relayResponse(Exchange& ex, ResponseParser& response, UpstreamConnectionPtr conn,
                                           char* bodyBuffer);
boost::asio::awaitable<void> tunnel(Exchange& ex, ResponseParser& response, UpstreamConnection& conn);

// local_reply.cc: an answer Portico gives itself (errors, redirects) with a JSON body.
// Returns whether the connection may serve another request.
boost::asio::awaitable<bool> reply(Exchange& ex, unsigned status, std::string_view message, bool keepAlive);
// The client failed while sending its body: 413/408/400 when it can still be told.
boost::asio::awaitable<bool> clientBodyFailed(Exchange& ex, const boost::system::error_code& ec);

}  // namespace portico::proxy
