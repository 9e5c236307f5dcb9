#include "proxy/server/access_log.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <atomic>
#include <memory>

#include "proxy/common/json_escape.h"
#include "proxy/server/access_log_format.h"
#include "proxy/server/line_writer.h"

namespace portico::proxy {

namespace {

// Owned here, read by every worker through the atomic pointer. The owner is a static so that
// lines still buffered at exit are written by its destructor even without flushAccessLog().
std::unique_ptr<LineWriter>& writerStorage() {
  static std::unique_ptr<LineWriter> writer;
  return writer;
}
std::atomic<LineWriter*> activeWriter{nullptr};

// The text format's date and zone, formatted once a second per thread.
thread_local LocalTimestamp threadTimestamp;

void reportDrops(std::uint64_t dropped, bool json) {
  std::string message = fmt::format(
      "access log: dropped {} lines, stdout is not keeping up (over 8 MiB buffered for a worker)", dropped);
  if (json) {
    // The default logger's JSON pattern embeds %v as a JSON value (controller/main.cc).
    std::string quoted;
    appendJsonQuoted(quoted, message);
    message = std::move(quoted);
  }
  spdlog::warn(message);
}

}  // namespace

void initAccessLog(bool json) {
  activeWriter.store(nullptr, std::memory_order_release);
  auto& writer = writerStorage();
  writer.reset();
  writer = std::make_unique<LineWriter>(LineWriter::Options{
      .fd = STDOUT_FILENO, .onDrops = [json](std::uint64_t dropped) { reportDrops(dropped, json); }});
  activeWriter.store(writer.get(), std::memory_order_release);
}

void logAccess(const AccessRecord& record, bool json) {
  LineWriter* writer = activeWriter.load(std::memory_order_acquire);
  if (!writer) return;
  const auto now = std::chrono::system_clock::now();
  writer->append([&](std::string& out) {
    if (json) appendJsonLine(out, record, now);
    else appendTextLine(out, record, now, threadTimestamp);
  });
}

void flushAccessLog() {
  if (LineWriter* writer = activeWriter.load(std::memory_order_acquire)) writer->flush();
}

uint64_t accessLogDroppedLines() {
  LineWriter* writer = activeWriter.load(std::memory_order_acquire);
  return writer ? writer->dropped() : 0;
}

}  // namespace portico::proxy
