// Test helper: a request or response header parsed from exact bytes by Beast, as the
// proxy's parsers see it.
#pragma once

#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/asio/buffer.hpp>

#include <stdexcept>
#include <string_view>

namespace portico::test {

template <bool isRequest>
boost::beast::http::header<isRequest> parseHead(std::string_view raw) {
  boost::beast::http::parser<isRequest, boost::beast::http::empty_body> parser;
  parser.eager(false);
  boost::system::error_code ec;
  parser.put(boost::asio::buffer(raw.data(), raw.size()), ec);
  if (ec && ec != boost::beast::http::error::need_more) throw std::runtime_error("parse: " + ec.message());
  if (!parser.is_header_done()) throw std::runtime_error("parse: header incomplete");
  return parser.release().base();
}

inline boost::beast::http::request_header<> request(std::string_view raw) { return parseHead<true>(raw); }
inline boost::beast::http::response_header<> response(std::string_view raw) { return parseHead<false>(raw); }

}  // namespace portico::test
