#include "proxy/http/header_rules.h"

#include <boost/beast/core/string.hpp>
#include <boost/beast/http/rfc7230.hpp>

namespace portico::proxy::http1 {
namespace {

namespace http = boost::beast::http;
using boost::beast::iequals;

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

}  // namespace

AnnouncedFraming checkFraming(const Fields& fields, bool http10) {
  AnnouncedFraming out;
  int transferEncodings = 0, contentLengths = 0;
  std::string_view te, cl;
  for (const auto& field : fields) {
    if (field.name() == http::field::transfer_encoding) {
      ++transferEncodings;
      te = field.value();
    } else if (field.name() == http::field::content_length) {
      ++contentLengths;
      cl = field.value();
    }
  }
  if (transferEncodings) {
    if (http10) return {Framing::None, 0, "Transfer-Encoding in an HTTP/1.0 message"};
    if (contentLengths) return {Framing::None, 0, "both Content-Length and Transfer-Encoding"};
    if (transferEncodings > 1 || !iequals(trim(te), "chunked"))
      return {Framing::None, 0, "Transfer-Encoding other than exactly one \"chunked\""};
    out.framing = Framing::Chunked;
    return out;
  }
  if (contentLengths) {
    if (contentLengths > 1) return {Framing::None, 0, "more than one Content-Length header"};
    cl = trim(cl);
    // 19 digits always fit in 64 bits; Beast's parser enforces the body size itself.
    if (cl.empty() || cl.size() > 19) return {Framing::None, 0, "invalid Content-Length"};
    uint64_t n = 0;
    for (char c : cl) {
      if (c < '0' || c > '9') return {Framing::None, 0, "invalid Content-Length"};
      n = n * 10 + uint64_t(c - '0');
    }
    out.framing = Framing::Length;
    out.length = n;
  }
  return out;
}

bool isHopOrFraming(http::field field) {
  switch (field) {
    case http::field::connection:
    case http::field::keep_alive:
    case http::field::proxy_connection:
    case http::field::te:
    case http::field::trailer:
    case http::field::upgrade:
    case http::field::transfer_encoding:
    case http::field::content_length:
    case http::field::http2_settings:
    case http::field::host:
    case http::field::expect:
      return true;
    default:
      return false;
  }
}

bool isHopOrFramingName(std::string_view name) {
  // Only names as long as one of the fields above can be one, and none of them starts with
  // an x (Portico's own X-Forwarded-* and X-Request-Id are checked here on every request):
  // most names are decided without Beast's field lookup.
  if (name.empty() || name.front() == 'x' || name.front() == 'X') return false;
  switch (name.size()) {
    case 2:   // te
    case 4:   // host
    case 6:   // expect
    case 7:   // trailer, upgrade
    case 10:  // connection, keep-alive
    case 14:  // content-length, http2-settings
    case 16:  // proxy-connection
    case 17:  // transfer-encoding
      return isHopOrFraming(http::string_to_field(name));
    default:
      return false;
  }
}

ConnectionOptions connectionOptions(const Fields& fields) {
  ConnectionOptions names;  // a few names at most, in the usual case: no allocation
  fields.forEach(http::field::connection, [&](std::string_view line) {
    for (auto token : http::token_list{line}) names.push_back(token);
    return true;
  });
  return names;
}

std::string joinedValues(const Fields& fields, std::string_view name) {
  std::string out;
  fields.forEach(name, [&](std::string_view line) {
    const std::string_view value = trim(line);
    if (value.empty()) return true;
    if (!out.empty()) out += ", ";
    out += value;
    return true;
  });
  return out;
}

}  // namespace portico::proxy::http1
