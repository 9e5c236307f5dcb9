#include <doctest/doctest.h>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <random>

#include "proxy/common/json_escape.h"

using portico::appendJsonQuoted;

namespace {

// What the access log and the control-plane logs used before: the reference behaviour.
std::string nlohmannQuoted(const std::string& text) {
  return nlohmann::json(text).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string jsonQuoted(std::string_view text) {
  std::string out;
  appendJsonQuoted(out, text);
  return out;
}

std::string hex(std::string_view text) {
  std::string out;
  for (unsigned char c : text) out += fmt::format("{:02x} ", c);
  return out;
}

}  // namespace

TEST_SUITE("json_escape") {
  TEST_CASE("escapes quotes, backslashes and control characters as nlohmann does") {
    CHECK(jsonQuoted("") == R"("")");
    CHECK(jsonQuoted("plain /path?q=1") == R"("plain /path?q=1")");
    CHECK(jsonQuoted("a\"b\\c") == R"("a\"b\\c")");
    CHECK(jsonQuoted("\b\t\n\f\r") == R"("\b\t\n\f\r")");
    CHECK(jsonQuoted(std::string_view("\0\x01\x1f", 3)) == R"("\u0000\u0001\u001f")");
    CHECK(jsonQuoted("\x7f") == "\"\x7f\"");  // DEL is not escaped without ensure_ascii
    CHECK(jsonQuoted("GET / HTTP/1.1\r\nX-Forged: 1") == R"("GET / HTTP/1.1\r\nX-Forged: 1")");
    for (int c = 0; c < 0x80; ++c) {
      const std::string one(1, static_cast<char>(c));
      CHECK_MESSAGE(jsonQuoted(one) == nlohmannQuoted(one), "byte ", c);
    }
  }

  TEST_CASE("copies valid UTF-8 and replaces each maximal invalid subpart by U+FFFD") {
    const std::string fffd = "\xEF\xBF\xBD";
    CHECK(jsonQuoted("\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80") == "\"\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80\"");
    CHECK(jsonQuoted("\x80") == "\"" + fffd + "\"");                       // stray continuation
    CHECK(jsonQuoted("\xC0\xAF") == "\"" + fffd + fffd + "\"");            // overlong '/'
    CHECK(jsonQuoted("\xE0\x80\xAF") == "\"" + fffd + fffd + fffd + "\"");  // overlong, 3 bytes
    CHECK(jsonQuoted("\xED\xA0\x80") == "\"" + fffd + fffd + fffd + "\"");  // a UTF-16 surrogate
    CHECK(jsonQuoted("\xF4\x90\x80\x80") == "\"" + fffd + fffd + fffd + fffd + "\"");  // > U+10FFFF
    CHECK(jsonQuoted("\xF5\xFF") == "\"" + fffd + fffd + "\"");
    CHECK(jsonQuoted("\xE2\x82") == "\"" + fffd + "\"");         // truncated at the end
    CHECK(jsonQuoted("\xE2\x82x") == "\"" + fffd + "x\"");       // truncated, next byte kept
    CHECK(jsonQuoted("\xF0\x9F\x98\"") == "\"" + fffd + "\\\"\"");
    for (const char* text : {"\x80", "\xC0\xAF", "\xE0\x80\xAF", "\xED\xA0\x80", "\xED\x9F\xBF", "\xEE\x80\x80",
                             "\xF0\x90\x80\x80", "\xF4\x8F\xBF\xBF", "\xF4\x90\x80\x80", "\xF5\xFF", "\xE2\x82",
                             "\xE2\x82x", "\xC2", "\xC2\xC2\xA9", "a\xFE" "b", "\xF0\x9F\x98\""}) {
      CHECK_MESSAGE(jsonQuoted(text) == nlohmannQuoted(text), "input ", nlohmannQuoted(text));
    }
  }

  TEST_CASE("agrees with nlohmann on 300,000 random byte strings") {
    // Fixed seed: the test is the same every run. The alphabet leans on the bytes that matter
    // (controls, quote, backslash, continuation bytes, every kind of lead byte).
    std::mt19937 random(20240611);
    const std::string interesting =
        std::string("\x00\x01\x08\x09\x0a\x0c\x0d\x1f\x7f\"\\ az", 15) +
        "\x80\x8f\x90\x9f\xa0\xbf\xc0\xc1\xc2\xdf\xe0\xe1\xec\xed\xee\xef\xf0\xf1\xf3\xf4\xf5\xf8\xfe\xff";
    std::uniform_int_distribution<int> length(0, 24);
    std::uniform_int_distribution<int> pick(0, static_cast<int>(interesting.size()) - 1);
    std::uniform_int_distribution<int> anyByte(0, 255);
    int mismatches = 0;
    for (int i = 0; i < 300000; ++i) {
      std::string text(static_cast<std::size_t>(length(random)), '\0');
      for (char& c : text) c = static_cast<char>(random() % 3 ? interesting[pick(random)] : anyByte(random));
      const std::string expected = nlohmannQuoted(text);
      const std::string actual = jsonQuoted(text);
      if (actual != expected && ++mismatches <= 5) {
        CHECK_MESSAGE(actual == expected, "input bytes ", hex(text));
      }
    }
    CHECK(mismatches == 0);
  }

  TEST_CASE("appends to what is already in the buffer") {
    std::string out = "x=";
    appendJsonQuoted(out, "\"");
    CHECK(out == R"(x="\"")");
  }
}
