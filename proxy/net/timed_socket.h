// A TCP socket with one deadline per connection, moved lazily: the replacement for
// beast::tcp_stream, which cancels and re-arms a timer around every read and write.
//
// Setting the deadline is a store. The one timer of the connection is armed only when the
// new deadline is earlier than the one it is armed for; when it fires early (the deadline
// moved later meanwhile) it re-arms for the current one. So a keep-alive connection arms
// its timer about once per timeout period, not twice per request (nginx keeps its timers
// the same way). When the deadline passes, pending operations are cancelled and complete
// with beast::error::timeout, as with tcp_stream; an operation started after that fails
// at once with the same error until a new deadline is set.
//
// Satisfies AsyncReadStream and AsyncWriteStream, so Beast's http:: algorithms and
// asio::ssl::stream<TimedSocket&> work on it. beast::get_lowest_layer() of it is itself.
// Worker thread only. Internal to the proxy.
#pragma once

#include <chrono>
#include <memory>
#include <span>
#include <utility>

#include <boost/asio/async_result.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/error.hpp>

namespace portico::proxy {

class TimedSocket {
 public:
  using Clock = std::chrono::steady_clock;
  using executor_type = boost::asio::ip::tcp::socket::executor_type;

  explicit TimedSocket(boost::asio::io_context& ioc);
  explicit TimedSocket(boost::asio::ip::tcp::socket socket);
  ~TimedSocket();
  TimedSocket(const TimedSocket&) = delete;
  TimedSocket& operator=(const TimedSocket&) = delete;

  executor_type get_executor() noexcept { return state_->socket.get_executor(); }
  // For asio::ssl::stream<TimedSocket&>, which asks its next layer for the lowest one.
  using lowest_layer_type = TimedSocket;
  TimedSocket& lowest_layer() { return *this; }
  boost::asio::ip::tcp::socket& socket() { return state_->socket; }
  const boost::asio::ip::tcp::socket& socket() const { return state_->socket; }

  void expires_after(std::chrono::steady_clock::duration timeout) { expires_at(Clock::now() + timeout); }
  void expires_at(Clock::time_point deadline);
  void expires_never() { expires_at(Clock::time_point::max()); }
  // The deadline passed (and has not been moved since).
  bool timedOut() const { return state_->timedOut; }
  void close();

  // Sends what the socket takes now, without waiting: nginx's way. A small write, the
  // common case, ends here, with no trip through the event loop and no coroutine
  // suspension; the caller writes the rest, if any, with an asynchronous write. A full send
  // buffer is not an error (0 bytes). Never times out: it does not wait.
  size_t writeNow(std::span<const boost::asio::const_buffer> buffers, boost::system::error_code& ec);

  template <class MutableBuffers, class Token>
  auto async_read_some(const MutableBuffers& buffers, Token&& token) {
    return boost::asio::async_initiate<Token, void(boost::system::error_code, size_t)>(
        [this](auto handler, const MutableBuffers& b) {
          if (state_->timedOut) return failNow(std::move(handler));
          state_->socket.async_read_some(b, Completion<decltype(handler)>{std::move(handler), state_.get()});
        },
        token, buffers);
  }

  template <class ConstBuffers, class Token>
  auto async_write_some(const ConstBuffers& buffers, Token&& token) {
    return boost::asio::async_initiate<Token, void(boost::system::error_code, size_t)>(
        [this](auto handler, const ConstBuffers& b) {
          if (state_->timedOut) return failNow(std::move(handler));
          state_->socket.async_write_some(b, Completion<decltype(handler)>{std::move(handler), state_.get()});
        },
        token, buffers);
  }

  // Completes when the socket has bytes to read (or a FIN, or an error), without reading:
  // the caller borrows a buffer only then. Not speculative: call it after a read said
  // would_block, or bytes that are already there may not wake it (epoll is edge-triggered).
  template <class Token>
  auto async_wait_readable(Token&& token) {
    return boost::asio::async_initiate<Token, void(boost::system::error_code)>(
        [this](auto handler) {
          if (state_->timedOut) {
            return boost::asio::post(get_executor(), [h = std::move(handler)]() mutable {
              h(boost::system::error_code(boost::beast::error::timeout));
            });
          }
          state_->socket.async_wait(boost::asio::ip::tcp::socket::wait_read,
                                    ConnectCompletion<decltype(handler)>{std::move(handler), state_.get()});
        },
        token);
  }

  template <class Token>
  auto async_connect(const boost::asio::ip::tcp::endpoint& endpoint, Token&& token) {
    return boost::asio::async_initiate<Token, void(boost::system::error_code)>(
        [this](auto handler, const boost::asio::ip::tcp::endpoint& e) {
          if (state_->timedOut) {
            return boost::asio::post(get_executor(), [h = std::move(handler)]() mutable {
              h(boost::system::error_code(boost::beast::error::timeout));
            });
          }
          state_->socket.async_connect(e, ConnectCompletion<decltype(handler)>{std::move(handler), state_.get()});
        },
        token, endpoint);
  }

 private:
  // Shared with the timer's handler, which may run after the socket is gone.
  struct State {
    explicit State(boost::asio::ip::tcp::socket s);
    boost::asio::ip::tcp::socket socket;
    boost::asio::steady_timer timer;
    Clock::time_point deadline = Clock::time_point::max();
    Clock::time_point armedFor = Clock::time_point::max();  // max: not armed
    bool timedOut = false;
    bool closed = false;
  };
  struct TimerWait;
  static void arm(const std::shared_ptr<State>& state, Clock::time_point at);
  static void onTimer(const std::shared_ptr<State>& state);

  static boost::system::error_code translate(const State& state, boost::system::error_code ec) {
    if (state.timedOut && ec == boost::asio::error::operation_aborted) return boost::beast::error::timeout;
    return ec;
  }
  template <class Handler>
  struct Completion {
    Handler handler;
    State* state;  // alive while an operation on its socket is pending
    void operator()(boost::system::error_code ec, size_t n) { handler(translate(*state, ec), n); }
  };
  template <class Handler>
  struct ConnectCompletion {
    Handler handler;
    State* state;
    void operator()(boost::system::error_code ec) { handler(translate(*state, ec)); }
  };
  template <class Handler>
  void failNow(Handler handler) {
    boost::asio::post(get_executor(), [h = std::move(handler)]() mutable { h(boost::system::error_code(boost::beast::error::timeout), size_t(0)); });
  }

  std::shared_ptr<State> state_;
};

}  // namespace portico::proxy
