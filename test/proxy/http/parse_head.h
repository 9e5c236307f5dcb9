// Test helper: a request or response header parsed from exact bytes by the proxy's own
// HTTP/1.1 parser (proxy/http/http1_parser.h), as the pipeline sees it.
#pragma once

#include <boost/asio/buffer.hpp>
#include <boost/beast/http/error.hpp>

#include <stdexcept>
#include <string_view>

#include "proxy/http/http1_parser.h"

namespace portico::test {

template <bool isRequest>
typename proxy::http1::Http1Parser<isRequest>::Head parseHead(std::string_view raw) {
  proxy::http1::Http1Parser<isRequest> parser;
  parser.eager(false);
  boost::system::error_code ec;
  parser.put(boost::asio::buffer(raw.data(), raw.size()), ec);
  if (ec && ec != boost::beast::http::error::need_more) throw std::runtime_error("parse: " + ec.message());
  if (!parser.is_header_done()) throw std::runtime_error("parse: header incomplete");
  return parser.head();
}

inline proxy::http1::RequestHead request(std::string_view raw) { return parseHead<true>(raw); }
inline proxy::http1::ResponseHead response(std::string_view raw) { return parseHead<false>(raw); }

}  // namespace portico::test
