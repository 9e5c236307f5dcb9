#include "proxy/http/http1_parser.h"

#include <cstring>

#include <boost/beast/http/error.hpp>

namespace portico::proxy::http1 {

namespace http = boost::beast::http;

template <bool isRequest>
void Http1Parser<isRequest>::on_request_impl(http::verb method, string_view methodText, string_view target,
                                             int version, error_code& ec) {
  if constexpr (isRequest) head_.setStartLine(method, methodText, target, unsigned(version));
  ec = {};
}

template <bool isRequest>
void Http1Parser<isRequest>::on_response_impl(int status, string_view reason, int version, error_code& ec) {
  if constexpr (!isRequest) head_.setStartLine(unsigned(status), reason, unsigned(version));
  ec = {};
}

template <bool isRequest>
void Http1Parser<isRequest>::on_field_impl(http::field id, string_view name, string_view value, error_code& ec) {
  if (!headerDone_) head_.add(id, name, value);
  ec = {};
}

template <bool isRequest>
void Http1Parser<isRequest>::on_header_impl(error_code& ec) {
  headerDone_ = true;
  head_.keep_alive(this->keep_alive());
  ec = {};
}

template <bool isRequest>
void Http1Parser<isRequest>::on_body_init_impl(const boost::optional<std::uint64_t>&, error_code& ec) {
  ec = {};
}

// As Beast's buffer_body reader: copy what fits, need_buffer when something is left.
template <bool isRequest>
size_t Http1Parser<isRequest>::on_body_impl(string_view bytes, error_code& ec) {
  if (!body_.data) {
    ec = http::error::need_buffer;
    return 0;
  }
  const size_t n = std::min(bytes.size(), body_.size);
  if (n > 0) std::memcpy(body_.data, bytes.data(), n);
  body_.data += n;
  body_.size -= n;
  ec = n == bytes.size() ? error_code() : error_code(http::error::need_buffer);
  return n;
}

template <bool isRequest>
void Http1Parser<isRequest>::on_chunk_header_impl(std::uint64_t, string_view, error_code& ec) {
  ec = {};
}

template <bool isRequest>
size_t Http1Parser<isRequest>::on_chunk_body_impl(std::uint64_t, string_view bytes, error_code& ec) {
  return on_body_impl(bytes, ec);
}

template <bool isRequest>
void Http1Parser<isRequest>::on_finish_impl(error_code& ec) {
  ec = {};
}

template class Http1Parser<true>;
template class Http1Parser<false>;

}  // namespace portico::proxy::http1
