#include <doctest/doctest.h>

#include "proxy/common/base64.h"

TEST_CASE("decodeBase64 is strict RFC 4648 for both alphabets") {
  using portico::proxy::Base64Alphabet;
  using portico::proxy::decodeBase64;
  CHECK(decodeBase64("aGVsbG8=", Base64Alphabet::Standard) == std::optional<std::string>("hello"));
  CHECK(decodeBase64("", Base64Alphabet::Standard) == std::optional<std::string>(""));
  CHECK(decodeBase64("+/8=", Base64Alphabet::Standard) == std::optional<std::string>("\xfb\xff"));
  CHECK_FALSE(decodeBase64("aGVsbG8", Base64Alphabet::Standard));    // padding required
  CHECK_FALSE(decodeBase64("YQ=a", Base64Alphabet::Standard));       // '=' inside
  CHECK_FALSE(decodeBase64("YR==", Base64Alphabet::Standard));       // non-zero unused bits
  CHECK_FALSE(decodeBase64("-_8=", Base64Alphabet::Standard));       // url alphabet
  CHECK(decodeBase64("-_8", Base64Alphabet::Url) == std::optional<std::string>("\xfb\xff"));
  CHECK_FALSE(decodeBase64("QQ==", Base64Alphabet::Url));            // no padding in url
  CHECK_FALSE(decodeBase64("Q", Base64Alphabet::Url));               // impossible length
}
