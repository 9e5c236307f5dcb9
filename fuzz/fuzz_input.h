// Small helpers shared by the fuzz targets. Header-only, standard C++ only, so that the
// same target sources build as libFuzzer binaries under clang and as corpus regression
// tests under GCC (FuzzedDataProvider ships with clang's runtime only).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>
#include <vector>

namespace portico::fuzz {

// Text lines of the input split at '\n' (a '\r' before it is kept: the targets decide).
inline std::vector<std::string_view> splitLines(std::string_view in, size_t maxLines = 64) {
  std::vector<std::string_view> lines;
  while (!in.empty() && lines.size() + 1 < maxLines) {
    const size_t nl = in.find('\n');
    if (nl == std::string_view::npos) break;
    lines.push_back(in.substr(0, nl));
    in.remove_prefix(nl + 1);
  }
  lines.push_back(in);
  return lines;
}

// A property of the code under test does not hold: report it and abort, so that libFuzzer
// records a crash and the regression driver fails. Used instead of assert(), which NDEBUG
// (RelWithDebInfo) turns off.
[[noreturn]] inline void fail(const char* what, std::string_view detail = {}) {
  std::fprintf(stderr, "fuzz property failed: %s [%.*s]\n", what, static_cast<int>(detail.size()),
               detail.data());
  std::abort();
}

inline void check(bool ok, const char* what, std::string_view detail = {}) {
  if (!ok) fail(what, detail);
}

}  // namespace portico::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);
