// The two access-log line formats, appended to a caller's buffer without per-field
// allocations. Byte-compatible with the lines the spdlog + nlohmann::json logger wrote before
// (test/proxy/runtime/access_log_test.cc compares them with a copy of that code).
#pragma once

#include <chrono>
#include <ctime>
#include <limits>
#include <string>

#include "proxy/server/access_log.h"

namespace portico::proxy {

// spdlog's "%Y-%m-%dT%H:%M:%S.%e%z" in local time. localtime_r (a lock and a TZ check in
// glibc) runs once per second per cache; the milliseconds change per call. One cache per
// thread: it is not synchronised.
class LocalTimestamp {
 public:
  void append(std::string& out, std::chrono::system_clock::time_point now);
  // The same into the line writer the formatters use (access_log_format.cc).
  template <typename Line>
  void write(Line& line, std::chrono::system_clock::time_point now);

 private:
  std::time_t second_ = std::numeric_limits<std::time_t>::min();
  char date_[32] = {};   // "2024-05-01T13:02:03"
  std::size_t dateLength_ = 0;
  char zone_[16] = {};   // "+02:00"
  std::size_t zoneLength_ = 0;
};

// "<timestamp> <client> <method> "<target>" "<host>" <status> <bytes> <ms>ms route=<r|->
// upstream=<u|-> id="<request id>"\n". Client-controlled fields are JSON-quoted, so a CR/LF
// in a target cannot start a forged line.
void appendTextLine(std::string& out, const AccessRecord& record, std::chrono::system_clock::time_point now,
                    LocalTimestamp& timestamp);

// One compact JSON object per line, keys in nlohmann's (sorted) order, "ts" in epoch ms.
void appendJsonLine(std::string& out, const AccessRecord& record, std::chrono::system_clock::time_point now);

}  // namespace portico::proxy
