// JSON string escaping without a JSON library: appends to a caller's buffer, no allocation
// beyond the buffer's growth. Byte-compatible with nlohmann::json::dump(-1, ' ', false,
// error_handler_t::replace) of a string, which the access log and the control-plane logs
// used before; test/proxy/runtime/json_escape_test.cc checks that differentially.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace portico {

// Escaped text is at most this many times longer than its input (a control byte becomes
// "\u00xx"; an invalid byte, U+FFFD, 3 bytes).
inline constexpr std::size_t kJsonEscapedMaxGrowth = 6;

// Writes `text` escaped for the inside of a JSON string (no quotes) to `out`, which must have
// room for kJsonEscapedMaxGrowth * text.size() bytes, and returns the end. `"` `\` and
// control characters are escaped (\b \t \n \f \r, else \u00xx), valid UTF-8 is copied as is,
// and each maximal invalid UTF-8 subpart (a bad lead byte, a truncated sequence, an overlong
// form, a surrogate, a code point above U+10FFFF) becomes U+FFFD.
char* writeJsonEscaped(char* out, std::string_view text);

// The same, appended to a string.
void appendJsonEscaped(std::string& out, std::string_view text);

// The same between double quotes: a complete JSON string value.
inline void appendJsonQuoted(std::string& out, std::string_view text) {
  out.push_back('"');
  appendJsonEscaped(out, text);
  out.push_back('"');
}

}  // namespace portico
