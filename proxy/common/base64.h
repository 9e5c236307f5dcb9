// Strict base64 decoding (RFC 4648) of untrusted text: one canonical encoding per value.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace portico::proxy {

enum class Base64Alphabet {
  Standard,  // A-Z a-z 0-9 + /, '=' padding to a multiple of 4 required
  Url,       // A-Z a-z 0-9 - _, no padding (JOSE)
};

// The decoded bytes, or nullopt for a character outside the alphabet (whitespace
// included), wrong padding or length, or non-zero unused bits in the last symbol.
[[nodiscard]] std::optional<std::string> decodeBase64(std::string_view in, Base64Alphabet alphabet);

}  // namespace portico::proxy
