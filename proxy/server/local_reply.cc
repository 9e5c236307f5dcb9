// Answers Portico gives itself: errors, refusals and redirects, as a small JSON body with
// the request id, plus whatever response headers the exchange collected (CORS, the
// affinity cookie, RateLimit-*, a redirect's Location).
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

#include "proxy/server/client_connection.h"
#include "proxy/server/exchange.h"
#include "proxy/server/http_errors.h"

namespace portico::proxy {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using boost::system::error_code;

net::awaitable<bool> reply(Exchange& ex, unsigned status, std::string_view message, bool keepAlive) {
  http::response<http::string_body> res{static_cast<http::status>(status), 11};
  res.set(http::field::content_type, "application/json");
  res.set("x-request-id", ex.requestId);
  for (const auto& [name, value] : ex.responseHeaders) res.insert(name, value);
  if (status != 204 && status != 304) res.body() = errorBody(status, message, ex.requestId);
  else res.erase(http::field::content_type);
  res.keep_alive(keepAlive);
  res.prepare_payload();
  if (ex.req().method() == http::verb::head) {
    // The header GET would get, without the body, which would otherwise be read as the
    // start of the next response (RFC 9110 9.3.2). Content-Type describes generated
    // content, so it goes too; Content-Length stays, as for GET.
    res.erase(http::field::content_type);
    res.body().clear();
  }
  ex.status = status;
  ex.responseBytes = res.body().size();
  error_code ec;
  ex.conn.stream.timed().expires_after(ex.options.bodyTimeout);
  co_await http::async_write(ex.conn.stream, res, net::redirect_error(net::use_awaitable, ec));
  co_return keepAlive && !ec;
}

namespace {
// A request body the parser rejected (bad chunk framing), as opposed to a client that
// disconnected or went silent: the client is still there to be told.
bool malformedBody(const error_code& ec) {
  return ec.category() == http::make_error_code(http::error::bad_chunk).category() &&
         ec != http::error::partial_message && ec != http::error::end_of_stream;
}
}  // namespace

// Nothing useful can go back on this connection afterwards.
net::awaitable<bool> clientBodyFailed(Exchange& ex, const error_code& ec) {
  if (ec == http::error::body_limit) co_await reply(ex, 413, "request body larger than this route allows", false);
  else if (ec == beast::error::timeout) co_await reply(ex, 408, "request body not received in time", false);
  else if (malformedBody(ec)) co_await reply(ex, 400, "malformed request body: " + ec.message(), false);
  else ex.status = 400;  // the client went away: nobody to answer
  co_return false;
}

}  // namespace portico::proxy
