// What a proxied request sends upstream, decided before any byte is written: the target
// after rewrites, and the header plan (proxy/http/head_writer.h) with Portico's own
// forwarding fields. Pure: no I/O, no clock, unit-tested in test/proxy/http.
//
// Forwarding fields are Portico's own: X-Forwarded-For is the client's list (when it sent
// any) plus the peer; X-Forwarded-Proto/-Host/-Port and Forwarded are passed on only from
// a trusted proxy, otherwise replaced (and Forwarded removed); X-Real-IP is the client
// address after the trusted-proxy walk; X-Consumer, X-Forwarded-Client-Cert and the
// credentials and identity headers the policies name never pass from the client.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "proxy/config/route_spec.h"
#include "proxy/http/head_writer.h"
#include "proxy/http/request_admission.h"
#include "proxy/policy/route_policies.h"

namespace portico::proxy::http1 {

struct ForwardingFacts {
  std::string_view peer;           // the connection's remote address
  std::string_view clientAddress;  // the client behind trusted proxies, or the peer
  bool peerTrusted = false;        // the peer is a --trusted-proxy
  bool tls = false;                // the client connection is TLS
  std::string_view localPort;      // the listener's port
  std::string_view requestId;
  UnderscoreHeaders underscores = UnderscoreHeaders::Drop;
  // X-Forwarded-Client-Cert for a verified client certificate on a host that asks for
  // one (empty: none). A client's own copy never passes, on any route.
  std::string_view clientCertificate;
};

// The storage the plan's views point into (with the client's header and the route spec).
struct ForwardingPlan {
  std::string target;        // origin-form, rewritten, with the query
  std::string forwardedFor;  // in: the client's X-Forwarded-For list; out: plus the peer
  RequestHeadPlan head;
};

// `regexRewritten`: the route's rewrite.regex result for the routing path, if it has one.
void planForwarding(const RequestHeader& request, const AdmittedRequest& admitted, const RouteSpec& spec,
                    const policy::Admission& admission, std::optional<std::string> regexRewritten,
                    const ForwardingFacts& facts, ForwardingPlan& out);

// rewrite.prefix: the matched prefix of `path` replaced (Prefix routes), or the whole path
// (Exact routes); always starts with '/'.
std::string rewrittenPath(const RouteSpec& spec, std::string_view path);

}  // namespace portico::proxy::http1
