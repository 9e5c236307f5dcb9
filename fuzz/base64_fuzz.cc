// Fuzz target: the strict base64 decoders (proxy/common/base64, and base64UrlDecode in
// proxy/policy/jwks which JOSE parsing uses).
//
// Input: any bytes, decoded with both alphabets.
// Properties checked: one canonical encoding per value, so whatever decodes re-encodes
// to exactly the input; the decoded size is 3/4 of the input (rounded as padding says);
// base64UrlDecode agrees with decodeBase64(Url); whatever we encode decodes back.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "fuzz/fuzz_input.h"
#include "proxy/common/base64.h"
#include "proxy/policy/jwks.h"

namespace {

using portico::fuzz::check;
using portico::proxy::Base64Alphabet;
using portico::proxy::decodeBase64;

std::string encode(std::string_view raw, bool url) {
  const char* alphabet = url ? "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
                             : "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  for (unsigned char c : raw) {
    acc = (acc << 8) | c;
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out += alphabet[(acc >> bits) & 63];
    }
  }
  if (bits > 0) out += alphabet[(acc << (6 - bits)) & 63];
  if (!url)
    while (out.size() % 4) out += '=';
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  const std::optional<std::string> standard = decodeBase64(in, Base64Alphabet::Standard);
  if (standard) {
    check(encode(*standard, false) == in, "standard: decode then encode gives the input back", in);
    check(in.size() % 4 == 0, "standard: padded to a multiple of 4", in);
  }
  const std::optional<std::string> url = decodeBase64(in, Base64Alphabet::Url);
  if (url) check(encode(*url, true) == in, "url: decode then encode gives the input back", in);
  const std::optional<std::string> jose = portico::proxy::policy::base64UrlDecode(in);
  check(jose.has_value() == url.has_value() && (!jose || *jose == *url), "base64UrlDecode == decodeBase64(Url)", in);

  // The other direction: the input as raw bytes.
  const auto back = decodeBase64(encode(in, false), Base64Alphabet::Standard);
  check(back.has_value() && *back == in, "standard: encode then decode gives the bytes back", in);
  const auto backUrl = decodeBase64(encode(in, true), Base64Alphabet::Url);
  check(backUrl.has_value() && *backUrl == in, "url: encode then decode gives the bytes back", in);
  return 0;
}
