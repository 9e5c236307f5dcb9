#include "proxy/server/access_log_format.h"

#include <fmt/format.h>

#include <cstdlib>
#include <cstring>
#include <nlohmann/json.hpp>

#include "proxy/common/json_escape.h"

namespace portico::proxy {

namespace {

using namespace std::string_view_literals;

// Writes one line into the tail of `out`, sized up front for the worst case so that each
// piece is a plain store (no capacity check per character), then trimmed to what was written.
class LineSpan {
 public:
  LineSpan(std::string& out, std::size_t maxSize) : out_(out) {
    const std::size_t size = out.size();
    out.resize(size + maxSize);
    at_ = out.data() + size;
  }
  ~LineSpan() { out_.resize(static_cast<std::size_t>(at_ - out_.data())); }
  LineSpan(const LineSpan&) = delete;
  LineSpan& operator=(const LineSpan&) = delete;

  void put(char c) { *at_++ = c; }
  void put(std::string_view s) {
    std::memcpy(at_, s.data(), s.size());
    at_ += s.size();
  }
  void quoted(std::string_view s) {
    *at_++ = '"';
    at_ = writeJsonEscaped(at_, s);
    *at_++ = '"';
  }
  template <typename Integer>
  void integer(Integer value) {
    const fmt::format_int digits(value);
    put(std::string_view(digits.data(), digits.size()));
  }
  void pad2(int n) {
    *at_++ = static_cast<char>('0' + n / 10);
    *at_++ = static_cast<char>('0' + n % 10);
  }
  char* at() { return at_; }
  void advance(char* to) { at_ = to; }

 private:
  std::string& out_;
  char* at_;
};

// Room for everything but the variable fields: keys, separators, numbers (an integer is at
// most 20 digits, a double in either format at most ~30 chars), the timestamp.
constexpr std::size_t kFixedRoom = 512;

std::size_t quotedRoom(std::string_view s) { return kJsonEscapedMaxGrowth * s.size() + 2; }

double milliseconds(std::chrono::nanoseconds duration) {
  return std::chrono::duration<double, std::milli>(duration).count();
}

// The text format's "{:.3f}" of the duration in ms. fmt rounds the exact binary value of
// ns / 1e6, which is what rounding the integer ns to microseconds gives unless the ns sit
// exactly on a half microsecond (the double may fall on either side) or the double is too
// coarse for nanoseconds to matter (over ~10^9 ms, ~11 days); those go to fmt itself.
void writeMilliseconds3(LineSpan& line, std::chrono::nanoseconds duration) {
  const std::int64_t ns = duration.count();
  if (ns >= 0 && ns < 1'000'000'000'000'000 && ns % 1000 != 500) {
    const std::int64_t us = (ns + 500) / 1000;
    line.integer(us / 1000);
    const int frac = static_cast<int>(us % 1000);
    line.put('.');
    line.put(static_cast<char>('0' + frac / 100));
    line.pad2(frac % 100);
    return;
  }
  char number[64];
  const auto written = fmt::format_to_n(number, sizeof number, "{:.3f}", milliseconds(duration));
  line.put(std::string_view(number, std::min(written.size, sizeof number)));
}

}  // namespace

void LocalTimestamp::append(std::string& out, std::chrono::system_clock::time_point now) {
  LineSpan line(out, sizeof date_ + 4 + sizeof zone_);
  write(line, now);
}

template <typename Line>
void LocalTimestamp::write(Line& line, std::chrono::system_clock::time_point now) {
  const auto sinceEpoch = now.time_since_epoch();
  const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(sinceEpoch);
  const std::time_t second = static_cast<std::time_t>(seconds.count());
  if (second != second_) {
    std::tm tm{};
    localtime_r(&second, &tm);
    // Field by field as spdlog's flag formatters do (%Y is the plain year, the rest pad2),
    // so that any year prints the same.
    const auto end = fmt::format_to_n(date_, sizeof date_, "{}-{:02}-{:02}T{:02}:{:02}:{:02}", tm.tm_year + 1900,
                                      tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
    dateLength_ = std::min(end.size, sizeof date_);
    // %z: spdlog's utc_minutes_offset is tm_gmtoff / 60 on Linux, printed as sign, hh, ':', mm.
    const int minutes = static_cast<int>(tm.tm_gmtoff / 60);
    const auto zone = fmt::format_to_n(zone_, sizeof zone_, "{}{:02}:{:02}", minutes < 0 ? '-' : '+',
                                       std::abs(minutes) / 60, std::abs(minutes) % 60);
    zoneLength_ = std::min(zone.size, sizeof zone_);
    second_ = second;
  }
  line.put(std::string_view(date_, dateLength_));
  line.put('.');
  const auto millis = static_cast<int>(
      (std::chrono::duration_cast<std::chrono::milliseconds>(sinceEpoch) - seconds).count());
  line.put(static_cast<char>('0' + millis / 100));
  line.pad2(millis % 100);
  line.put(std::string_view(zone_, zoneLength_));
}

void appendTextLine(std::string& out, const AccessRecord& r, std::chrono::system_clock::time_point now,
                    LocalTimestamp& timestamp) {
  LineSpan line(out, kFixedRoom + r.clientIp.size() + r.method.size() + quotedRoom(r.target) + quotedRoom(r.host) +
                         r.route.size() + r.upstream.size() + quotedRoom(r.requestId));
  timestamp.write(line, now);
  line.put(' ');
  line.put(r.clientIp);
  line.put(' ');
  line.put(r.method);
  line.put(' ');
  line.quoted(r.target);
  line.put(' ');
  line.quoted(r.host);
  line.put(' ');
  line.integer(r.status);
  line.put(' ');
  line.integer(r.responseBodyBytes);
  line.put(' ');
  writeMilliseconds3(line, r.duration);
  line.put("ms route="sv);
  line.put(r.route.empty() ? "-"sv : r.route);
  line.put(" upstream="sv);
  line.put(r.upstream.empty() ? "-"sv : r.upstream);
  line.put(" id="sv);
  line.quoted(r.requestId);
  line.put('\n');
}

void appendJsonLine(std::string& out, const AccessRecord& r, std::chrono::system_clock::time_point now) {
  LineSpan line(out, kFixedRoom + quotedRoom(r.clientIp) + quotedRoom(r.method) + quotedRoom(r.target) +
                         quotedRoom(r.host) + quotedRoom(r.route) + quotedRoom(r.upstream) + quotedRoom(r.requestId));
  line.put(R"({"bytes":)"sv);
  line.integer(r.responseBodyBytes);
  line.put(R"(,"client":)"sv);
  line.quoted(r.clientIp);
  line.put(R"(,"durationMs":)"sv);
  // nlohmann prints doubles with its own Grisu2 (not always the shortest digits, and its own
  // exponent layout); its to_chars is what dump() calls, so the digits stay identical. It
  // writes at most ~25 chars; a duration is always finite, which it requires.
  line.advance(nlohmann::detail::to_chars(line.at(), line.at() + 64, milliseconds(r.duration)));
  line.put(R"(,"host":)"sv);
  line.quoted(r.host);
  line.put(R"(,"method":)"sv);
  line.quoted(r.method);
  line.put(R"(,"requestId":)"sv);
  line.quoted(r.requestId);
  line.put(R"(,"route":)"sv);
  line.quoted(r.route);
  line.put(R"(,"status":)"sv);
  line.integer(r.status);
  line.put(R"(,"target":)"sv);
  line.quoted(r.target);
  line.put(R"(,"ts":)"sv);
  line.integer(std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count());
  line.put(R"(,"upstream":)"sv);
  line.quoted(r.upstream);
  line.put("}\n"sv);
}

}  // namespace portico::proxy
