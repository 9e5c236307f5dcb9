// Hex digit decoding shared by path normalization and query parsing.
#pragma once

namespace portico::proxy::router {

// The value of a hex digit (either case), or -1.
constexpr int hexValue(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace portico::proxy::router
