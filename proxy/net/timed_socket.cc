#include "proxy/net/timed_socket.h"

#include <sys/socket.h>

#include <algorithm>
#include <cerrno>

#include "proxy/net/exact_size_allocator.h"

namespace portico::proxy {

TimedSocket::State::State(boost::asio::ip::tcp::socket s)
    : socket(std::move(s)), timer(socket.get_executor()) {}

TimedSocket::TimedSocket(boost::asio::io_context& ioc)
    : state_(std::make_shared<State>(boost::asio::ip::tcp::socket(ioc))) {}

TimedSocket::TimedSocket(boost::asio::ip::tcp::socket socket) : state_(std::make_shared<State>(std::move(socket))) {}

TimedSocket::~TimedSocket() { close(); }

void TimedSocket::close() {
  boost::system::error_code ignored;
  state_->closed = true;
  state_->socket.close(ignored);
  state_->timer.cancel();
}

size_t TimedSocket::writeNow(std::span<const boost::asio::const_buffer> buffers, boost::system::error_code& ec) {
  if (state_->timedOut) {
    ec = boost::beast::error::timeout;
    return 0;
  }
  constexpr size_t kMaxPieces = 16;
  iovec iov[kMaxPieces];
  const size_t count = std::min(buffers.size(), kMaxPieces);
  for (size_t i = 0; i < count; ++i)
    iov[i] = iovec{const_cast<void*>(buffers[i].data()), buffers[i].size()};
  msghdr message{};
  message.msg_iov = iov;
  message.msg_iovlen = count;
  for (;;) {
    const ssize_t n = ::sendmsg(state_->socket.native_handle(), &message, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n >= 0) return size_t(n);
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
    ec = boost::system::error_code(errno, boost::asio::error::get_system_category());
    return 0;
  }
}

void TimedSocket::expires_at(Clock::time_point deadline) {
  State& s = *state_;
  s.deadline = deadline;
  s.timedOut = false;
  // Armed for an earlier (or the same) time: it fires then and re-arms. Never armed, or
  // armed for later than the new deadline: arm now.
  if (deadline < s.armedFor) arm(state_, deadline);
}

// The timer's handler. A deadline may wait for minutes: its operation gets memory of its
// own size (exact_size_allocator.h).
struct TimedSocket::TimerWait {
  using allocator_type = ExactSizeAllocator<void>;
  allocator_type get_allocator() const noexcept { return {}; }
  void operator()(const boost::system::error_code& ec) const {
    if (ec) return;  // cancelled: re-armed, or the socket closed
    if (auto s = state.lock()) onTimer(s);
  }
  std::weak_ptr<State> state;
};

void TimedSocket::arm(const std::shared_ptr<State>& state, Clock::time_point at) {
  state->armedFor = at;
  state->timer.expires_at(at);  // a wait still pending completes with operation_aborted
  state->timer.async_wait(TimerWait{state});
}

void TimedSocket::onTimer(const std::shared_ptr<State>& state) {
  State& s = *state;
  s.armedFor = Clock::time_point::max();
  if (s.closed || s.deadline == Clock::time_point::max()) return;
  if (Clock::now() < s.deadline) return arm(state, s.deadline);
  s.timedOut = true;
  boost::system::error_code ignored;
  s.socket.cancel(ignored);
}

}  // namespace portico::proxy
