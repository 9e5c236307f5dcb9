#include "controller/render/duration.h"

#include <cstdint>
#include <limits>
#include <string>

namespace portico::controller {
namespace {

constexpr uint64_t kMaxNanos = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());

Error durationError(std::string_view what, std::string_view text) {
  return makeError(std::string(what) + " in duration \"" + std::string(text) + "\"");
}

// Nanoseconds per unit, or 0 if the unit is unknown.
uint64_t unitNanos(std::string_view unit) {
  if (unit == "ns") return 1;
  if (unit == "us" || unit == "\xC2\xB5s" || unit == "\xCE\xBCs") return 1000;  // µs, μs
  if (unit == "ms") return 1000 * 1000;
  if (unit == "s") return 1000 * 1000 * 1000;
  if (unit == "m") return 60ULL * 1000 * 1000 * 1000;
  if (unit == "h") return 3600ULL * 1000 * 1000 * 1000;
  return 0;
}

bool isDigit(char c) { return c >= '0' && c <= '9'; }

}  // namespace

Expected<std::chrono::nanoseconds> parseDuration(std::string_view text) {
  std::string_view s = text;
  bool negative = false;
  if (!s.empty() && (s[0] == '-' || s[0] == '+')) {
    negative = s[0] == '-';
    s.remove_prefix(1);
  }
  if (s == "0") return std::chrono::nanoseconds(0);
  if (s.empty()) return durationError("invalid syntax", text);

  uint64_t total = 0;
  while (!s.empty()) {
    // Integer part.
    uint64_t whole = 0;
    size_t i = 0;
    bool overflow = false;
    while (i < s.size() && isDigit(s[i])) {
      if (whole > (kMaxNanos - (s[i] - '0')) / 10) overflow = true;
      if (!overflow) whole = whole * 10 + (s[i] - '0');
      ++i;
    }
    bool hasWhole = i > 0;
    // Fraction: keep up to 18 digits, enough for nanosecond precision of any unit.
    uint64_t frac = 0;
    uint64_t fracScale = 1;
    bool hasFrac = false;
    if (i < s.size() && s[i] == '.') {
      ++i;
      size_t start = i;
      while (i < s.size() && isDigit(s[i])) {
        if (fracScale < 1000000000000000000ULL) {
          frac = frac * 10 + (s[i] - '0');
          fracScale *= 10;
        }
        ++i;
      }
      hasFrac = i > start;
    }
    if (!hasWhole && !hasFrac) return durationError("invalid syntax", text);
    if (overflow) return durationError("overflow", text);
    size_t unitStart = i;
    while (i < s.size() && !isDigit(s[i]) && s[i] != '.') ++i;
    std::string_view unit = s.substr(unitStart, i - unitStart);
    if (unit.empty()) return durationError("missing unit", text);
    uint64_t scale = unitNanos(unit);
    if (scale == 0) return durationError("unknown unit \"" + std::string(unit) + "\"", text);
    if (whole > kMaxNanos / scale) return durationError("overflow", text);
    uint64_t value = whole * scale;
    // frac/fracScale * scale, computed without overflow: scale <= 3.6e12, so split.
    if (frac > 0) {
      long double part = static_cast<long double>(frac) * static_cast<long double>(scale) /
                         static_cast<long double>(fracScale);
      uint64_t add = static_cast<uint64_t>(part);
      if (value > kMaxNanos - add) return durationError("overflow", text);
      value += add;
    }
    if (total > kMaxNanos - value) return durationError("overflow", text);
    total += value;
    s.remove_prefix(i);
  }
  auto nanos = static_cast<int64_t>(total);
  return std::chrono::nanoseconds(negative ? -nanos : nanos);
}

}  // namespace portico::controller
