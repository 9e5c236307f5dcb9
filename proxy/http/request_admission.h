// Request admission: every check on a parsed HTTP/1.x request header before it is routed,
// as one pure function. Returns what routing, policies and the upstream request need
// (host, normalized path, body framing, an allowed upgrade), or why the request is
// refused. No I/O, no allocation beyond the result.
//
//   http1::AdmittedRequest request;
//   if (auto refusal = http1::admitRequest(parser.get(), options, request))
//     return reply(refusal->status, refusal->message);
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "proxy/http/header_rules.h"
#include "proxy/router/path.h"

namespace portico::proxy::http1 {

using RequestHeader = RequestHead;

struct AdmittedRequest {
  // The authority the client asked for: the absolute-form target's (RFC 9112 3.2.2),
  // else Host; empty for an HTTP/1.0 request without Host. Sent upstream as Host.
  std::string_view authority;
  std::string host;       // authority lower-cased, without port or trailing dot: routing
  std::string path;       // normalized (router::normalizePath); sent upstream
  std::string routePath;  // `path` without ";parameters" when it has any, else empty
  // What routing and policies see: servlet containers drop ";parameters" themselves.
  std::string_view routingPath() const { return routePath.empty() ? std::string_view(path) : routePath; }
  std::string_view query;
  Framing body = Framing::None;  // None, Length or Chunked
  uint64_t contentLength = 0;
  // "websocket" (as the client spelled it) when an allowed upgrade was asked; else empty.
  std::string_view upgrade;
  // Set when escapedSlashes is UnescapeAndRedirect and the path had escaped slashes: the
  // client is sent there (307) instead of being served.
  std::optional<std::string> redirectTo;
};

struct Refusal {
  unsigned status;
  std::string message;
};

// Checks, in order: version (505), framing (checkFraming: 400), Host (one; 400 when
// missing on HTTP/1.1 or invalid), the target (origin-form or absolute-form http(s) URL;
// no userinfo), field names with '_' (Reject: 400), the path (normalizePath with the
// escaped-slash action: 400 on control bytes, %00, bad escapes or hidden dot segments).
[[nodiscard]] std::optional<Refusal> admitRequest(const RequestHeader& request, const AdmissionOptions& options,
                                                  AdmittedRequest& out);

// Lower-cases a Host value and strips its port and a trailing dot: "[::1]:8080" ->
// "[::1]", "Example.COM.:80" -> "example.com".
[[nodiscard]] std::string routingHost(std::string_view authority);

}  // namespace portico::proxy::http1
