// Layer-4 connections (RouteSpec::stream): a client connection on a --tcp-ports listener,
// or one on the HTTPS listener whose ClientHello names a TLS passthrough host, is carried
// byte for byte to an endpoint of its route. Internal to the proxy.
//
// The route is chosen once, when the connection arrives: by port, and by the server name
// of the ClientHello (client_hello.h) when the port has SNI routes. An endpoint is picked
// by the route's balancer (health checks, outlier ejection and panic mode as for HTTP;
// LeastRequest counts open connections; ConsistentHash hashes the client address), and a
// failed connect is tried on up to two more endpoints. Then two pumps copy bytes, one per
// direction, with a half-close passed on as a half-close.
//
// What an open connection holds: its two sockets, their deadlines, this object and the
// two pumps' coroutine frames; a 64 KiB buffer is borrowed from the worker only while
// bytes are moving, so an idle connection holds none. The idle timeout is one deadline per socket, moved lazily
// (TimedSocket). Table swaps do not touch a connection whose route (by name) is still in
// the table; a connection whose route left is closed by the worker's sweep.
#pragma once

#include <cstdint>
#include <string>

#include <boost/asio/ip/tcp.hpp>

#include "proxy/server/worker.h"

namespace portico::proxy {

// Worker thread. Serves `socket`, accepted on the listener of local `port`, until it closes.
// `terminateOtherwise`: the HTTPS listener; a connection no stream route takes is handed
// to TLS termination (its bytes are still unread). Otherwise such a connection is closed.
void startStreamSession(Worker& worker, boost::asio::ip::tcp::socket socket, Worker::ConnectionSlot slot,
                        uint16_t port, bool terminateOtherwise);

// Worker thread: the name of the route a registered connection is carried by, and a way
// to end it (both directions closed; the connection then unregisters itself).
const std::string& streamRouteName(const StreamConnection& connection);
void closeStream(StreamConnection& connection);

}  // namespace portico::proxy
