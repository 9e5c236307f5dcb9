// The HTTP/1.1 codec's parser: Beast's basic_parser (framing, chunked decoding, limits,
// keep-alive and upgrade semantics) with a header kept in a MessageHead (message_head.h)
// and a body decoded into a buffer the caller lends, piece by piece, as with Beast's
// buffer_body.
//
// Fields that arrive after the header (a chunked body's trailers) are dropped: Portico
// never forwards trailers, and this way nothing a peer sends after the header can add to
// or shadow a header field that was already checked.
#pragma once

#include <boost/beast/http/basic_parser.hpp>

#include "proxy/http/message_head.h"

namespace portico::proxy::http1 {

// Where the next body bytes go: `size` bytes free at `data`. Parsing stops with
// http::error::need_buffer when it is full.
struct BodyBuffer {
  char* data = nullptr;
  size_t size = 0;
};

template <bool isRequest>
class Http1Parser final : public boost::beast::http::basic_parser<isRequest> {
 public:
  using Head = std::conditional_t<isRequest, RequestHead, ResponseHead>;

  Head& head() { return head_; }
  const Head& head() const { return head_; }
  BodyBuffer& body() { return body_; }

 private:
  using error_code = boost::system::error_code;
  using string_view = boost::beast::string_view;

  void on_request_impl(boost::beast::http::verb method, string_view methodText, string_view target, int version,
                       error_code& ec) override;
  void on_response_impl(int status, string_view reason, int version, error_code& ec) override;
  void on_field_impl(boost::beast::http::field id, string_view name, string_view value, error_code& ec) override;
  void on_header_impl(error_code& ec) override;
  void on_body_init_impl(const boost::optional<std::uint64_t>& length, error_code& ec) override;
  size_t on_body_impl(string_view bytes, error_code& ec) override;
  void on_chunk_header_impl(std::uint64_t size, string_view extensions, error_code& ec) override;
  size_t on_chunk_body_impl(std::uint64_t remain, string_view bytes, error_code& ec) override;
  void on_finish_impl(error_code& ec) override;

  Head head_;
  BodyBuffer body_;
  bool headerDone_ = false;
};

extern template class Http1Parser<true>;
extern template class Http1Parser<false>;

}  // namespace portico::proxy::http1
