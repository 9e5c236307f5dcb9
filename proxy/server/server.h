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

#include "proxy/http/admission_options.h"

namespace portico::proxy {

class TablePublisher;
class Metrics;
class UpstreamRegistry;

struct ServerOptions {
  std::string listenAddress = "0.0.0.0";
  uint16_t httpPort = 8080;
  uint16_t httpsPort = 8443;   // 0: no TLS listener
  uint16_t httpsRedirectPort = 443;  // port written into 308 redirects to https
  unsigned workers = 1;
  size_t maxHeaderBytes = 32 * 1024;            // larger header sections get 431
  uint64_t maxRequestBodyBytes = 100ull << 20;  // default when a route sets none; 413
  std::chrono::milliseconds headerTimeout{10000};     // first byte to end of header
  std::chrono::milliseconds keepAliveTimeout{60000};  // idle client connection
  std::chrono::milliseconds bodyTimeout{60000};       // between two body reads
  size_t upstreamMaxIdlePerEndpoint = 1024;           // per worker
  // Client connections open at once, for the whole process; at the limit the listeners
  // stop accepting until one closes. 0: defaultMaxConnections of the open-file limit.
  uint64_t maxConnections = 0;
  // Peers whose X-Forwarded-For is believed when finding the client address (CIDRs).
  std::vector<std::string> trustedProxies;
  std::string redisAddress;  // "host:port" for global rate limits; empty: none
  std::chrono::milliseconds redisTimeout{50};
  http1::AdmissionOptions admission;  // underscores in header names, escaped slashes
  bool accessLog = true;
  bool accessLogJson = false;
};

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
