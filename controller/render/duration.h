// Go-style durations ("300ms", "2s", "1m30s", "1.5h"), as Kubernetes objects write them.
#pragma once

#include <chrono>
#include <string_view>

#include "proxy/common/expected.h"

namespace portico::controller {

// Parses a Go time.ParseDuration string: an optional sign, then one or more decimal
// numbers (fractions allowed) each followed by a unit: ns, us (or µs), ms, s, m, h.
// "0" alone is zero. Fails on an empty string, a missing unit, an unknown unit or
// overflow of int64 nanoseconds. The error message is the reason text only
// (e.g. `unknown unit "d" in duration "1d"`).
[[nodiscard]] Expected<std::chrono::nanoseconds> parseDuration(std::string_view text);

}  // namespace portico::controller
