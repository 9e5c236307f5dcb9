// One line per request on stdout, as text or JSON. Lines go to a per-thread buffer that a
// background thread writes out within ~50 ms (line_writer.h); a worker never blocks on
// stdout, and if stdout falls more than 8 MiB per worker behind, lines are dropped, counted
// and reported once a second on the default logger.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

namespace portico::proxy {

struct AccessRecord {
  std::string_view clientIp;
  std::string_view method;
  std::string_view target;
  std::string_view host;
  std::string_view route;      // empty when no route matched
  std::string_view upstream;   // "host:port" or empty
  std::string_view requestId;
  unsigned status = 0;
  uint64_t responseBodyBytes = 0;
  std::chrono::nanoseconds duration{0};
};

// Starts the background writer. Call once, before any thread logs: a second call replaces
// the writer (after draining it) and must not race with logAccess. `json` only picks the
// format of the drop warning; each line's format is logAccess's `json`.
void initAccessLog(bool json);
// A no-op before initAccessLog.
void logAccess(const AccessRecord& record, bool json);
// Blocks until every line logged before the call is on stdout; for shutdown (ProxyServer
// calls it once its workers have stopped) and tests. A no-op before initAccessLog.
void flushAccessLog();
// Lines dropped because stdout did not keep up, since initAccessLog.
uint64_t accessLogDroppedLines();

}  // namespace portico::proxy
