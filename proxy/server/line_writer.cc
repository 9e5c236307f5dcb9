#include "proxy/server/line_writer.h"

#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <utility>

namespace portico::proxy {

namespace {

std::atomic<std::uint64_t> nextWriterId{1};

// A thread's slot in the writer it last appended to. The shared_ptr keeps the slot alive for
// whichever of the two ends last; the flag lets the writer forget a slot nobody fills.
struct ThreadSlot {
  std::uint64_t writerId = 0;
  std::shared_ptr<void> slot;
  std::atomic<bool>* orphaned = nullptr;
  ~ThreadSlot() {
    if (orphaned) orphaned->store(true, std::memory_order_release);
  }
};
thread_local ThreadSlot threadSlot;

// Buffers bigger than this are not kept for reuse after a burst.
constexpr std::size_t kKeepCapacity = std::size_t{1} << 20;

}  // namespace

LineWriter::LineWriter(Options options)
    : options_(std::move(options)), id_(nextWriterId.fetch_add(1)), thread_([this] { run(); }) {}

LineWriter::~LineWriter() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_one();
  thread_.join();
}

LineWriter::Slot& LineWriter::slotForThisThread() {
  if (threadSlot.writerId != id_) [[unlikely]] {
    if (threadSlot.orphaned) threadSlot.orphaned->store(true, std::memory_order_release);
    auto slot = addSlot();
    threadSlot.orphaned = &slot->orphaned;
    threadSlot.slot = std::move(slot);
    threadSlot.writerId = id_;
  }
  return *static_cast<Slot*>(threadSlot.slot.get());
}

std::shared_ptr<LineWriter::Slot> LineWriter::addSlot() {
  auto slot = std::make_shared<Slot>();
  slot->lines.reserve(options_.wakeBytes + 1024);
  std::lock_guard lock(mutex_);
  slots_.push_back(slot);
  return slot;
}

void LineWriter::kick() {
  // Under the mutex, so that the wake-up cannot fall between the writer's check and its wait.
  {
    std::lock_guard lock(mutex_);
    kicked_ = true;
  }
  wake_.notify_one();
}

void LineWriter::flush() {
  std::unique_lock lock(mutex_);
  const std::uint64_t ticket = ++flushRequested_;
  wake_.notify_one();
  flushed_.wait(lock, [&] { return flushDone_ >= ticket; });
}

void LineWriter::run() {
  std::vector<std::shared_ptr<Slot>> slots;
  std::string chunk;
  std::uint64_t unreported = 0;
  auto lastReport = std::chrono::steady_clock::now() - std::chrono::seconds(1);
  for (;;) {
    std::uint64_t ticket;
    bool stopping;
    {
      std::unique_lock lock(mutex_);
      wake_.wait_for(lock, options_.maxAge,
                     [&] { return kicked_ || stopping_ || flushRequested_ != flushDone_; });
      kicked_ = false;
      ticket = flushRequested_;
      stopping = stopping_;
      slots = slots_;
    }
    drainOnce(slots, chunk, unreported);
    const auto now = std::chrono::steady_clock::now();
    if (unreported && options_.onDrops && (stopping || now - lastReport >= std::chrono::seconds(1))) {
      options_.onDrops(unreported);
      unreported = 0;
      lastReport = now;
    }
    {
      std::lock_guard lock(mutex_);
      // After the last pass nothing is written any more: release every waiter.
      flushDone_ = stopping ? UINT64_MAX : ticket;
    }
    flushed_.notify_all();
    if (stopping) return;
  }
}

void LineWriter::drainOnce(std::vector<std::shared_ptr<Slot>>& slots, std::string& chunk,
                           std::uint64_t& unreported) {
  std::vector<const Slot*> forget;
  for (auto& slot : slots) {
    // Read before the swap: an orphan gets no line after the flag, so once swapped it stays
    // empty and can be forgotten.
    const bool orphaned = slot->orphaned.load(std::memory_order_acquire);
    std::uint64_t dropped;
    {
      std::lock_guard lock(slot->mutex);
      // The thread keeps appending to the (emptied, capacity kept) string handed back.
      chunk.swap(slot->lines);
      dropped = std::exchange(slot->dropped, 0);
    }
    if (!chunk.empty()) writeAll(chunk);
    chunk.clear();
    if (chunk.capacity() > kKeepCapacity) std::string().swap(chunk);
    if (dropped) {
      dropped_.fetch_add(dropped, std::memory_order_relaxed);
      unreported += dropped;
    }
    if (orphaned) forget.push_back(slot.get());
  }
  if (!forget.empty()) {
    std::lock_guard lock(mutex_);
    std::erase_if(slots_, [&](const auto& slot) { return std::find(forget.begin(), forget.end(), slot.get()) != forget.end(); });
  }
}

void LineWriter::writeAll(const std::string& chunk) {
  const char* data = chunk.data();
  std::size_t left = chunk.size();
  while (left > 0) {
    const ssize_t n = ::write(options_.fd, data, left);
    if (n > 0) {
      data += n;
      left -= static_cast<std::size_t>(n);
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      // Someone made the descriptor non-blocking (a shared pipe or tty): wait until it drains.
      pollfd p{options_.fd, POLLOUT, 0};
      ::poll(&p, 1, 100);
    } else {
      // EPIPE, ENOSPC, EBADF...: the rest of this chunk is lost; later chunks try again.
      writeErrors_.fetch_add(1, std::memory_order_relaxed);
      return;
    }
  }
}

}  // namespace portico::proxy
