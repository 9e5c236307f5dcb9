#include "proxy/server/access_log_format.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "proxy/common/json_escape.h"

namespace portico::proxy {

namespace {

template <typename Integer>
void appendInt(std::string& out, Integer value) {
  const fmt::format_int digits(value);
  out.append(digits.data(), digits.size());
}

void appendPad2(std::string& out, int n) {
  out.push_back(static_cast<char>('0' + n / 10));
  out.push_back(static_cast<char>('0' + n % 10));
}

double milliseconds(std::chrono::nanoseconds duration) {
  return std::chrono::duration<double, std::milli>(duration).count();
}

}  // namespace

void LocalTimestamp::append(std::string& out, std::chrono::system_clock::time_point now) {
  const auto sinceEpoch = now.time_since_epoch();
  const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(sinceEpoch);
  const std::time_t second = static_cast<std::time_t>(seconds.count());
  if (second != second_) {
    std::tm tm{};
    localtime_r(&second, &tm);
    // Field by field as spdlog's flag formatters do (%Y is the plain year, the rest pad2),
    // so that any year prints the same.
    const auto end = fmt::format_to_n(date_, sizeof date_ - 1, "{}-{:02}-{:02}T{:02}:{:02}:{:02}", tm.tm_year + 1900,
                                      tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
    dateLength_ = std::min(end.size, sizeof date_ - 1);
    // %z: spdlog's utc_minutes_offset is tm_gmtoff / 60 on Linux, printed as sign, hh, ':', mm.
    int minutes = static_cast<int>(tm.tm_gmtoff / 60);
    std::string zone(1, minutes < 0 ? '-' : '+');  // once a second: the allocation is fine
    if (minutes < 0) minutes = -minutes;
    fmt::format_to(std::back_inserter(zone), "{:02}:{:02}", minutes / 60, minutes % 60);
    zoneLength_ = std::min(zone.size(), sizeof zone_);
    zone.copy(zone_, zoneLength_);
    second_ = second;
  }
  out.append(date_, dateLength_);
  out.push_back('.');
  const auto millis = static_cast<int>(
      (std::chrono::duration_cast<std::chrono::milliseconds>(sinceEpoch) - seconds).count());
  out.push_back(static_cast<char>('0' + millis / 100));
  appendPad2(out, millis % 100);
  out.append(zone_, zoneLength_);
}

void appendTextLine(std::string& out, const AccessRecord& r, std::chrono::system_clock::time_point now,
                    LocalTimestamp& timestamp) {
  timestamp.append(out, now);
  out.push_back(' ');
  out.append(r.clientIp);
  out.push_back(' ');
  out.append(r.method);
  out.push_back(' ');
  appendJsonQuoted(out, r.target);
  out.push_back(' ');
  appendJsonQuoted(out, r.host);
  out.push_back(' ');
  appendInt(out, r.status);
  out.push_back(' ');
  appendInt(out, r.responseBodyBytes);
  out.push_back(' ');
  // The same fmt spec the spdlog call used, hence the same rounding.
  fmt::format_to(std::back_inserter(out), "{:.3f}", milliseconds(r.duration));
  out.append("ms route=");
  out.append(r.route.empty() ? std::string_view("-") : r.route);
  out.append(" upstream=");
  out.append(r.upstream.empty() ? std::string_view("-") : r.upstream);
  out.append(" id=");
  appendJsonQuoted(out, r.requestId);
  out.push_back('\n');
}

void appendJsonLine(std::string& out, const AccessRecord& r, std::chrono::system_clock::time_point now) {
  out.append(R"({"bytes":)");
  appendInt(out, r.responseBodyBytes);
  out.append(R"(,"client":)");
  appendJsonQuoted(out, r.clientIp);
  out.append(R"(,"durationMs":)");
  // nlohmann prints doubles with its own Grisu2 (not always the shortest digits, and its own
  // exponent layout); its to_chars is what dump() calls, so the digits stay identical.
  // A duration is always finite, which to_chars requires.
  char number[64];
  out.append(number, nlohmann::detail::to_chars(number, number + sizeof number, milliseconds(r.duration)));
  out.append(R"(,"host":)");
  appendJsonQuoted(out, r.host);
  out.append(R"(,"method":)");
  appendJsonQuoted(out, r.method);
  out.append(R"(,"requestId":)");
  appendJsonQuoted(out, r.requestId);
  out.append(R"(,"route":)");
  appendJsonQuoted(out, r.route);
  out.append(R"(,"status":)");
  appendInt(out, r.status);
  out.append(R"(,"target":)");
  appendJsonQuoted(out, r.target);
  out.append(R"(,"ts":)");
  appendInt(out, std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count());
  out.append(R"(,"upstream":)");
  appendJsonQuoted(out, r.upstream);
  out.append("}\n");
}

}  // namespace portico::proxy
