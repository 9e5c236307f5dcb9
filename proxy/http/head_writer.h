// Writes the header sections Portico sends: the upstream request and the response to the
// client. Each is a new header, never the peer's edited in place: the peer's fields pass
// only through the filter below, and the framing, Host, Connection and Upgrade lines are
// Portico's own, computed from what it is about to send.
//
// Order of a written header: start line, Host (requests), the peer's fields that pass,
// Portico's own fields, the route's `set` and `add` edits, then framing and Connection.
// A header is written in two steps: write*Head reads the peer's fields and must run
// before any of the body is parsed (Beast's parser adds a chunked body's trailer fields
// to the header it parsed, and trailers never pass); end*Head appends the framing once
// Portico knows how it sends the body.
// A peer's field is dropped when it is hop-by-hop or framing (isHopOrFraming), named by
// its Connection header, has '_' in its name (UnderscoreHeaders::Drop), is one Portico
// writes itself, is in `strip`, or is removed or set by the route. So no client field,
// duplicate or trailer can shadow one Portico sets. Values Portico writes that contain a
// CR, LF or NUL (a JWT claim, say) are skipped rather than written.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "proxy/config/route_spec.h"
#include "proxy/http/header_rules.h"

namespace portico::proxy::http1 {

struct RequestHeadPlan {
  std::string_view method;
  std::string_view target;  // origin-form, already rewritten
  std::string_view host;    // never empty
  std::string_view upgrade;  // non-empty: "Connection: upgrade" and "Upgrade: <it>"
  FieldList own;             // X-Forwarded-*, X-Request-Id, identity headers
  NameList strip;            // more client fields never forwarded (credentials)
  const HeaderEdits* edits = nullptr;   // the route's requestHeaders
  UnderscoreHeaders underscores = UnderscoreHeaders::Drop;
};

// Replaces `out` with the upstream request header (HTTP/1.1) up to its framing.
void writeRequestHead(std::string& out, const Fields& client, const RequestHeadPlan& plan);
// Appends the framing (None, Length or Chunked), Connection/Upgrade and the blank line.
void endRequestHead(std::string& out, const RequestHeadPlan& plan, Framing framing, uint64_t contentLength);

struct ResponseHeadPlan {
  unsigned status = 200;
  // HEAD and 304: the Content-Length of the representation, passed on as information.
  std::optional<uint64_t> representationLength;
  bool http10Client = false;  // keep-alive must then be said
  std::string_view upgrade;   // 101: the protocol switched to
  FieldList own;              // CORS, affinity cookie, RateLimit-*
  const HeaderEdits* edits = nullptr;  // the route's responseHeaders
  UnderscoreHeaders underscores = UnderscoreHeaders::Drop;
};

// Replaces `out` with the response header for the client (HTTP/1.1 status line) up to its
// framing.
void writeResponseHead(std::string& out, const Fields& upstream, const ResponseHeadPlan& plan);
// Appends the framing (Length, Chunked, or no field for None and UntilClose), Connection
// and the blank line.
void endResponseHead(std::string& out, const ResponseHeadPlan& plan, Framing framing, uint64_t contentLength,
                     bool keepAlive);

}  // namespace portico::proxy::http1
