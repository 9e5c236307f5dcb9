// The data plane's listener options, as plain values: what the flag parser fills and the
// server reads. Here, not in proxy/server, so that the controller gets them without linking
// the data plane.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "proxy/config/admission_options.h"

namespace portico::proxy {

struct ServerOptions {
  std::string listenAddress = "0.0.0.0";
  uint16_t httpPort = 8080;
  uint16_t httpsPort = 8443;   // 0: no TLS listener
  uint16_t httpsRedirectPort = 443;  // port written into 308 redirects to https
  std::vector<uint16_t> tcpPorts;     // layer-4 listeners (stream routes name one)
  unsigned workers = 1;
  size_t maxHeaderBytes = 32 * 1024;            // larger header sections get 431
  uint64_t maxRequestBodyBytes = 100ull << 20;  // default when a route sets none; 413
  std::chrono::milliseconds headerTimeout{10000};     // first byte to end of header
  std::chrono::milliseconds keepAliveTimeout{60000};  // idle client connection
  std::chrono::milliseconds bodyTimeout{60000};       // between two body reads
  std::chrono::milliseconds tlsTicketKeyRotation{12 * 3600 * 1000};  // session tickets live two of these
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

}  // namespace portico::proxy
