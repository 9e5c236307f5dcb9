// Buffered line output off the workers' threads: each thread appends whole lines to its own
// buffer (a mutex only the background writer ever contends, for a swap), and one background
// thread writes full or aged buffers to a file descriptor. A worker never waits for I/O: once
// `maxPendingBytes` are buffered for its thread, further lines are dropped and counted, and
// the count is reported through `onDrops` at most once per second.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace portico::proxy {

class LineWriter {
 public:
  struct Options {
    int fd = 1;
    // Per thread, not counting the buffer being written: memory stays under twice this.
    std::size_t maxPendingBytes = std::size_t{8} << 20;
    // A buffer this full wakes the writer before its age does.
    std::size_t wakeBytes = std::size_t{64} << 10;
    // Every buffered line is written within about this long.
    std::chrono::milliseconds maxAge{50};
    // Called on the writer thread with the lines dropped since the last call.
    std::function<void(std::uint64_t dropped)> onDrops;
  };

  explicit LineWriter(Options options);
  // Writes every line appended before, then stops the thread.
  ~LineWriter();
  LineWriter(const LineWriter&) = delete;
  LineWriter& operator=(const LineWriter&) = delete;

  // Appends what `format(std::string&)` appends (whole lines, newline included) to the calling
  // thread's buffer, or drops it when that buffer is over the bound.
  template <typename Format>
  void append(Format&& format) {
    Slot& slot = slotForThisThread();
    bool wake;
    {
      std::lock_guard lock(slot.mutex);
      const std::size_t before = slot.lines.size();
      if (before >= options_.maxPendingBytes) {
        ++slot.dropped;
        return;
      }
      format(slot.lines);
      wake = before < options_.wakeBytes && slot.lines.size() >= options_.wakeBytes;
    }
    if (wake) kick();
  }

  // Blocks until every line appended before the call has been written (or failed to be).
  void flush();

  std::uint64_t dropped() const { return dropped_.load(std::memory_order_relaxed); }
  std::uint64_t writeErrors() const { return writeErrors_.load(std::memory_order_relaxed); }

 private:
  struct Slot {
    std::mutex mutex;
    std::string lines;           // guarded by mutex
    std::uint64_t dropped = 0;   // guarded by mutex
    std::atomic<bool> orphaned{false};  // its thread exited or moved to another writer
  };

  Slot& slotForThisThread();
  std::shared_ptr<Slot> addSlot();
  void kick();
  void run();
  void drainOnce(std::vector<std::shared_ptr<Slot>>& slots, std::string& chunk, std::uint64_t& unreported);
  void writeAll(const std::string& chunk);

  const Options options_;
  const std::uint64_t id_;  // tells a thread's cached slot of a destroyed writer from ours

  std::mutex mutex_;
  std::condition_variable wake_;
  std::condition_variable flushed_;
  std::vector<std::shared_ptr<Slot>> slots_;  // guarded by mutex_
  bool kicked_ = false;                       // guarded by mutex_
  bool stopping_ = false;                     // guarded by mutex_
  std::uint64_t flushRequested_ = 0;          // guarded by mutex_
  std::uint64_t flushDone_ = 0;               // guarded by mutex_

  std::atomic<std::uint64_t> dropped_{0};
  std::atomic<std::uint64_t> writeErrors_{0};
  std::thread thread_;
};

}  // namespace portico::proxy
