// Fuzz target: the request head path, as proxy/server/http_session.cc runs it for each
// request on a client connection.
//
// Input: the raw bytes a client sends. Byte 0 picks how they are cut into reads (TCP
// segments of 1..N bytes, or all at once), since Beast's parser keeps state across put()
// calls and the session feeds it whatever one read returned. The rest goes, read by read,
// into the proxy's HTTP/1.1 parser (http1::Http1Parser) with its header limit and obs-fold
// rule, then (once the header is complete) through admitHead() (request admission), then
// the body is drained through a small
// buffer as the session relays it, so chunked framing and trailers are decoded too.
// Pipelined requests are parsed one after the other, as a keep-alive connection would.
//
// Properties checked: see admitHead(); normalizePath() yields a path that starts with '/',
// has no empty, "." or ".." segment and is a fixed point (normalizing it again changes
// nothing); the split parts are views of the target.
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/error.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

#include "fuzz/fuzz_input.h"
#include "proxy/http/http1_parser.h"
#include "proxy/http/request_admission.h"
#include "proxy/router/path.h"
#include "proxy/server/server.h"

namespace {

namespace http = boost::beast::http;
using RequestParser = portico::proxy::http1::Http1Parser<true>;
using portico::fuzz::check;
namespace router = portico::proxy::router;

const size_t kMaxHeaderBytes = portico::proxy::ServerOptions{}.maxHeaderBytes;
constexpr uint64_t kBodyLimit = 1 << 20;
constexpr int kMaxRequestsPerInput = 8;

void checkNormalizedPath(std::string_view raw, const std::string& path) {
  check(!path.empty() && path.front() == '/', "normalized path starts with '/'", raw);
  check(path.find("//") == std::string::npos, "no empty segment", path);
  check(path.find("/./") == std::string::npos && path.find("/../") == std::string::npos,
        "no dot segment", path);
  check(!path.ends_with("/.") && !path.ends_with("/.."), "no final dot segment", path);
  for (unsigned char c : path) check(c > 0x1f && c != 0x7f && c != '#', "no control byte or '#'", path);
  const std::optional<std::string> again = router::normalizePath(path);
  check(again.has_value() && *again == path, "normalizePath is idempotent", path);
}

// What the session decides from a complete request head before routing:
// http1::admitRequest (proxy/http/request_admission.h) with each escaped-slash action and
// underscore rule, plus the path helpers it is built on.
//
// Properties: an admitted request's body framing is the one Beast's parser decodes (else
// the bytes Portico forwards as one body are not the bytes it parsed: smuggling); a
// request with both Content-Length and Transfer-Encoding is refused; the admitted path
// is normalized (fixed point) and the routing host is lower case without a port.
void admitHead(const RequestParser& parser) {
  namespace http1 = portico::proxy::http1;
  const auto& req = parser.head();
  const bool both = req.count(http::field::content_length) && req.count(http::field::transfer_encoding);
  using router::EscapedSlashes;
  for (EscapedSlashes action : {EscapedSlashes::Reject, EscapedSlashes::UnescapeAndRedirect,
                                EscapedSlashes::UnescapeAndForward, EscapedSlashes::Keep}) {
    http1::AdmissionOptions options;
    options.escapedSlashes = action;
    options.underscores = action == EscapedSlashes::Reject ? http1::UnderscoreHeaders::Reject
                                                           : http1::UnderscoreHeaders::Drop;
    http1::AdmittedRequest rq;
    if (http1::admitRequest(req, options, rq)) continue;  // refused: 4xx/5xx, connection closed
    check(!both, "Content-Length with Transfer-Encoding is refused", req.target());
    switch (rq.body) {
      case http1::Framing::Chunked:
        check(parser.chunked(), "admitted chunked body is what the parser decodes", req.target());
        break;
      case http1::Framing::Length:
        check(!parser.chunked() && parser.content_length() == rq.contentLength,
              "admitted Content-Length is what the parser uses", req.target());
        break;
      case http1::Framing::None:
        check(!parser.chunked() && parser.content_length().value_or(0) == 0,
              "a request admitted without a body has none for the parser", req.target());
        break;
      case http1::Framing::UntilClose:
        portico::fuzz::fail("a request body is never read until close", req.target());
    }
    checkNormalizedPath(req.target(), rq.path);
    if (action == EscapedSlashes::Reject || action == EscapedSlashes::UnescapeAndForward)
      check(rq.path.find("%2F") == std::string::npos && rq.path.find("%5C") == std::string::npos &&
                rq.path.find('\\') == std::string::npos,
            "no escaped slash left after Reject / UnescapeAndForward", rq.path);
    if (!rq.routePath.empty()) check(rq.routePath == router::withoutPathParameters(rq.path), "routePath", rq.path);
    for (unsigned char c : rq.host)
      check(!(c >= 'A' && c <= 'Z'), "routing host is lower case", rq.host);
  }

  // The helpers on their own, on whatever origin-form target the request has.
  const std::string_view target = req.target();
  if (target.empty() || target.front() != '/') return;
  const router::TargetParts parts = router::splitTarget(target);
  check(parts.path.data() == target.data(), "path is a prefix view of the target", target);
  check(parts.path.find('?') == std::string_view::npos, "path holds no '?'", target);
  check(parts.query.empty() || (parts.query.data() >= target.data() &&
                                 parts.query.data() + parts.query.size() <= target.data() + target.size()),
        "query is a view of the target", target);
  if (const std::optional<std::string> path = router::normalizePath(parts.path)) checkNormalizedPath(parts.path, *path);
}

// As http_session.cc: a field line starting with a space or tab (obs-fold) is refused.
bool hasObsFold(const char* p, size_t n, bool& afterNewline) {
  for (size_t i = 0; i < n; ++i) {
    if (afterNewline && (p[i] == ' ' || p[i] == '\t')) return true;
    afterNewline = p[i] == '\n';
  }
  return false;
}

// Feeds `in` to the parser in reads of `step` bytes (0: everything at once), as the session
// does: consumed bytes leave the buffer, and the header may not exceed kMaxHeaderBytes in
// total. Returns false when the connection would be closed.
bool parseOne(std::string_view& in, size_t step) {
  RequestParser parser;
  parser.header_limit(static_cast<uint32_t>(kMaxHeaderBytes));
  parser.body_limit(kBodyLimit);
  boost::beast::flat_buffer buffer;
  auto feed = [&]() {
    const size_t n = step == 0 ? in.size() : std::min(step, in.size());
    if (n == 0) return false;
    auto dst = buffer.prepare(n);
    std::memcpy(dst.data(), in.data(), n);
    buffer.commit(n);
    in.remove_prefix(n);
    return true;
  };
  boost::system::error_code ec;
  size_t headerBytes = 0;
  bool afterNewline = false;
  while (!parser.is_header_done()) {
    if (buffer.size() == 0 && !feed()) return false;
    const size_t n = parser.put(buffer.data(), ec);
    if ((!ec || ec == http::error::need_more) &&
        hasObsFold(static_cast<const char*>(buffer.data().data()), n, afterNewline))
      return false;  // 400
    buffer.consume(n);
    headerBytes += n;
    if ((!ec || ec == http::error::need_more) &&
        headerBytes + (parser.is_header_done() ? 0 : buffer.size()) > kMaxHeaderBytes)
      return false;  // 431
    if (ec == http::error::need_more) {
      ec = {};
      if (n == 0 && !feed()) return false;
      continue;
    }
    if (ec) return false;  // 400
  }
  admitHead(parser);

  // The body, relayed through a small buffer.
  char chunk[512];
  while (!parser.is_done()) {
    parser.body().data = chunk;
    parser.body().size = sizeof chunk;
    if (buffer.size() == 0 && !feed()) {
      (void)parser.put_eof(ec);
      return false;
    }
    const size_t n = parser.put(buffer.data(), ec);
    buffer.consume(n);
    if (ec == http::error::need_buffer || ec == http::error::need_more) ec = {};
    if (ec) return false;  // 400 (bad chunk, body limit)
    if (n == 0 && !parser.is_done() && !feed()) {
      (void)parser.put_eof(ec);
      return false;
    }
  }
  // Bytes read past this request stay for the next one (pipelining).
  const std::string_view rest(static_cast<const char*>(buffer.data().data()), buffer.size());
  if (!rest.empty()) {
    static thread_local std::string carry;
    carry.assign(rest);
    carry.append(in);
    in = carry;
  }
  return parser.head().keep_alive();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const uint8_t mode = data[0];
  const size_t step = mode < 128 ? 0 : (mode & 63) + 1;  // all at once, or 1..64 byte reads
  std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
  std::string keep;  // `in` may point into parseOne's carry buffer; copy before reuse
  for (int i = 0; i < kMaxRequestsPerInput && !in.empty(); ++i) {
    keep.assign(in);
    in = keep;
    if (!parseOne(in, step)) break;
  }
  return 0;
}
