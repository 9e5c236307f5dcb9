// The data plane: N workers, each with its own io_context and its own SO_REUSEPORT
// listeners (HTTP and HTTPS), so the kernel spreads connections and no worker ever
// touches another's sockets. Workers pick up the newest RouteTable from the
// TablePublisher between requests. No Beast types in this header.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "proxy/config/server_options.h"

namespace portico::proxy {

class TablePublisher;
class Metrics;
class UpstreamRegistry;

// The connection limit when none is given: every client connection may hold a second
// descriptor for its upstream connection (in flight or pooled, at most one per client
// connection with HTTP/1.1), and the process needs some for itself: per worker its epoll,
// eventfd/timerfd, two listeners and health-check probes; for the process the admin
// listener and its clients, the Kubernetes or file watcher, Redis, JWKS and external-auth
// fetches, log and config files. So: (fileLimit - 64 - 8 * workers) / 2, at least 1.
uint64_t defaultMaxConnections(uint64_t fileLimit, unsigned workers);

class ProxyServer {
 public:
  // `upstreams` holds health, ejections and breaker counters; it outlives the server.
  ProxyServer(ServerOptions options, TablePublisher& tables, Metrics& metrics, UpstreamRegistry& upstreams);
  ~ProxyServer();

  // Raises the soft open-file limit to the hard one, sets the connection limit, binds every
  // listener (throws std::system_error naming the address on failure), then starts the
  // worker threads.
  void start();
  // Stops accepting, closes idle keep-alive connections, lets in-flight requests end;
  // returns when no connection is left or `grace` passed. Then stops the workers.
  void drainAndStop(std::chrono::milliseconds grace);

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace portico::proxy
