#include "proxy/redis/asio_event_adapter.h"

#include <hiredis/async.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <memory>

namespace portico::proxy::redis {

namespace {

namespace asio = boost::asio;
using Descriptor = asio::posix::stream_descriptor;

// One per redisAsyncContext. Kept alive by itself while attached, and by each pending wait
// handler, so a handler that runs after cleanup still finds a valid (detached) object.
class SocketWatcher : public std::enable_shared_from_this<SocketWatcher> {
 public:
  SocketWatcher(redisAsyncContext* context, asio::io_context& io) : context_(context), descriptor_(io) {}

  bool attach() {
    boost::system::error_code ec;
    descriptor_.assign(context_->c.fd, ec);
    if (ec) return false;
    self_ = shared_from_this();
    context_->ev.data = this;
    context_->ev.addRead = [](void* w) { static_cast<SocketWatcher*>(w)->wantRead(true); };
    context_->ev.delRead = [](void* w) { static_cast<SocketWatcher*>(w)->wantRead(false); };
    context_->ev.addWrite = [](void* w) { static_cast<SocketWatcher*>(w)->wantWrite(true); };
    context_->ev.delWrite = [](void* w) { static_cast<SocketWatcher*>(w)->wantWrite(false); };
    context_->ev.cleanup = [](void* w) { static_cast<SocketWatcher*>(w)->detach(); };
    return true;
  }

 private:
  void wantRead(bool want) {
    wantRead_ = want;
    // A wait that is no longer wanted is left to complete; its handler then does nothing.
    // Cancelling it would cancel the write wait too (cancel() is per descriptor).
    if (want && !readWaiting_) awaitReadable();
  }

  void wantWrite(bool want) {
    wantWrite_ = want;
    if (want && !writeWaiting_) awaitWritable();
  }

  void awaitReadable() {
    readWaiting_ = true;
    descriptor_.async_wait(Descriptor::wait_read,
                           [self = shared_from_this()](const boost::system::error_code& ec) { self->onReadable(ec); });
  }

  void awaitWritable() {
    writeWaiting_ = true;
    descriptor_.async_wait(Descriptor::wait_write,
                           [self = shared_from_this()](const boost::system::error_code& ec) { self->onWritable(ec); });
  }

  // Any other error than operation_aborted is left for hiredis to find on the socket itself
  // (it reads or writes, sees the error and disconnects).
  void onReadable(const boost::system::error_code& ec) {
    readWaiting_ = false;
    if (!context_ || ec == asio::error::operation_aborted || !wantRead_) return;
    redisAsyncHandleRead(context_);  // may free the context: detach() then clears context_
    if (context_ && wantRead_ && !readWaiting_) awaitReadable();
  }

  void onWritable(const boost::system::error_code& ec) {
    writeWaiting_ = false;
    if (!context_ || ec == asio::error::operation_aborted || !wantWrite_) return;
    redisAsyncHandleWrite(context_);  // connects, writes; may free the context
    if (context_ && wantWrite_ && !writeWaiting_) awaitWritable();
  }

  // hiredis's cleanup hook: the context is being freed. It may come more than once (some
  // hiredis versions call it on disconnect and again on free), hence the hooks are cleared.
  void detach() {
    if (!context_) return;
    context_->ev.data = nullptr;
    context_->ev.addRead = nullptr;
    context_->ev.delRead = nullptr;
    context_->ev.addWrite = nullptr;
    context_->ev.delWrite = nullptr;
    context_->ev.cleanup = nullptr;
    context_ = nullptr;
    wantRead_ = wantWrite_ = false;
    // hiredis closes the fd itself: deregister it from the reactor without closing it.
    // Pending waits complete with operation_aborted.
    descriptor_.release();
    std::shared_ptr<SocketWatcher> last = std::move(self_);  // may destroy *this on return
  }

  redisAsyncContext* context_;
  Descriptor descriptor_;
  std::shared_ptr<SocketWatcher> self_;
  bool wantRead_ = false;
  bool wantWrite_ = false;
  bool readWaiting_ = false;
  bool writeWaiting_ = false;
};

}  // namespace

bool attachToIoContext(redisAsyncContext* context, asio::io_context& io) {
  if (context->ev.data != nullptr || context->c.fd < 0) return false;
  auto watcher = std::make_shared<SocketWatcher>(context, io);
  return watcher->attach();
}

}  // namespace portico::proxy::redis
