// The fields of APIRoute spec.tcp that are its own (apiroute_tcp.cc reads them; the rule
// fields it shares, backends and the balancing ones, have their own schemas). Internal to
// render; the CRD test compares these names with the CRD.
#pragma once

#include <cstdint>

#include "controller/render/field_schema.h"

namespace portico::controller {

struct TcpTimeouts {
  proxy::Millis connect{5000};
  proxy::Millis idle{3600000};
};

struct TcpFields {
  uint32_t port = 0;  // 0: not given
  bool tlsPassthrough = false;
  uint32_t maxConnections = 0;
  TcpTimeouts timeouts;
};

const Schema<TcpTimeouts>& tcpTimeoutsSchema();
const Schema<TcpFields>& tcpSchema();

}  // namespace portico::controller
