// Kubernetes timestamps: metav1.Time ("2006-01-02T15:04:05Z", seconds) and metav1.MicroTime
// ("2006-01-02T15:04:05.000000Z"), always written in UTC; parsing accepts any RFC 3339
// form the API server sends (optional fraction, "Z" or a numeric offset).
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace portico::controller {

using WallClock = std::chrono::system_clock;

std::string formatKubeTime(WallClock::time_point t);       // second precision
std::string formatKubeMicroTime(WallClock::time_point t);  // microsecond precision
// nullopt on anything that is not RFC 3339.
std::optional<WallClock::time_point> parseKubeTime(std::string_view text);

}  // namespace portico::controller
