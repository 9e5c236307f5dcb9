#include "proxy/http/request_admission.h"

#include <boost/beast/core/string.hpp>
#include <boost/beast/http/rfc7230.hpp>

namespace portico::proxy::http1 {
namespace {

namespace http = boost::beast::http;
using boost::beast::iequals;

bool validAuthority(std::string_view h) {
  if (h.empty() || h.size() > 255) return false;
  for (unsigned char c : h) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                    c == '-' || c == ':' || c == '[' || c == ']' || c == '_';
    if (!ok) return false;
  }
  return true;
}

// The one upgrade forwarded: WebSocket (RFC 6455), on GET, named by Connection. Any
// other (h2c above all: Portico is the HTTP/2 endpoint, never a tunnel to one) is dropped
// and the request is served as plain HTTP/1.1.
std::string_view allowedUpgrade(const RequestHeader& request) {
  if (request.method() != http::verb::get || request.count(http::field::upgrade) != 1) return {};
  const std::string_view protocol = request[http::field::upgrade];
  if (!iequals(protocol, "websocket")) return {};
  bool named = false;
  request.forEach(http::field::connection, [&](std::string_view line) {
    named = http::token_list{line}.exists("upgrade");
    return !named;
  });
  return named ? protocol : std::string_view();
}

}  // namespace

std::string routingHost(std::string_view authority) {
  std::string_view h = authority;
  if (!h.empty() && h.front() == '[') {
    if (auto close = h.find(']'); close != std::string_view::npos) h = h.substr(0, close + 1);
  } else if (auto colon = h.rfind(':'); colon != std::string_view::npos) {
    h = h.substr(0, colon);
  }
  std::string out(h);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (!out.empty() && out.back() == '.') out.pop_back();
  return out;
}

std::optional<Refusal> admitRequest(const RequestHeader& request, const AdmissionOptions& options,
                                    AdmittedRequest& out) {
  const unsigned version = request.version();
  if (version != 11 && version != 10) return Refusal{505, "only HTTP/1.0 and HTTP/1.1 are served here"};

  const AnnouncedFraming framing = checkFraming(request, version == 10);
  if (!framing.error.empty()) return Refusal{400, std::string(framing.error)};
  out.body = framing.framing;
  out.contentLength = framing.length;

  if (request.count(http::field::host) > 1) return Refusal{400, "more than one Host header"};
  if (options.underscores == UnderscoreHeaders::Reject)
    for (const auto& field : request)
      if (field.name_string().find('_') != std::string_view::npos)
        return Refusal{400, "header name with an underscore: " + std::string(field.name_string())};

  std::string_view target = request.target();
  std::string_view authority = request[http::field::host];
  if (!target.empty() && target.front() != '/') {
    // absolute-form: its authority replaces Host for everything (RFC 9112 3.2.2).
    if (iequals(target.substr(0, 7), "http://")) target.remove_prefix(7);
    else if (iequals(target.substr(0, 8), "https://")) target.remove_prefix(8);
    else return Refusal{400, "request target must be a path or an http(s) URL"};
    const size_t end = std::min(target.find_first_of("/?"), target.size());
    authority = target.substr(0, end);
    if (authority.find('@') != std::string_view::npos) return Refusal{400, "userinfo in the request target"};
    if (authority.empty()) return Refusal{400, "absolute-form target without a host"};
    target.remove_prefix(end);
    if (target.empty()) target = "/";
    else if (target.front() == '?') return Refusal{400, "absolute-form target without a path"};
  }
  if (target.empty()) return Refusal{400, "request target must be a path"};
  if (version == 11 && authority.empty()) return Refusal{400, "missing Host header"};
  if (!authority.empty() && !validAuthority(authority)) return Refusal{400, "invalid Host header"};
  out.authority = authority;
  out.host = routingHost(authority);

  const auto [rawPath, query] = router::splitTarget(target);
  router::PathNormalization path = router::normalizePath(rawPath, options.escapedSlashes);
  if (!path.path) {
    if (path.escapedSlashes && options.escapedSlashes == router::EscapedSlashes::Reject)
      return Refusal{400, "escaped slash or backslash in the request path"};
    return Refusal{400, "invalid request path"};
  }
  out.path = std::move(*path.path);
  out.routePath = out.path.find(';') == std::string::npos ? std::string() : router::withoutPathParameters(out.path);
  out.query = query;
  if (path.escapedSlashes && options.escapedSlashes == router::EscapedSlashes::UnescapeAndRedirect) {
    out.redirectTo = out.path;
    if (!query.empty()) *out.redirectTo += "?" + std::string(query);
  }
  out.upgrade = allowedUpgrade(request);
  return std::nullopt;
}

}  // namespace portico::proxy::http1
