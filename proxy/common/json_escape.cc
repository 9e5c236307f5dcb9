#include "proxy/common/json_escape.h"

#include <array>
#include <cstdint>
#include <cstring>

namespace portico {

namespace {

// Bytes copied without a second look: printable ASCII (0x7F included, as nlohmann does
// without ensure_ascii) except the quote and the backslash.
constexpr std::array<bool, 256> kPlain = [] {
  std::array<bool, 256> plain{};
  for (unsigned c = 0x20; c < 0x80; ++c) plain[c] = c != '"' && c != '\\';
  return plain;
}();

constexpr char kHex[] = "0123456789abcdef";

// Whether any of the 8 bytes of `w` is not plain (< 0x20, >= 0x80, '"' or '\'). The usual
// SWAR tests: they can flag a byte above a real match, never a word without one.
constexpr std::uint64_t kOnes = 0x0101010101010101ull;
constexpr std::uint64_t kHighs = 0x8080808080808080ull;
inline bool hasSpecial(std::uint64_t w) {
  const auto hasZero = [](std::uint64_t v) { return (v - kOnes) & ~v & kHighs; };
  const std::uint64_t below20 = (w - kOnes * 0x20) & ~w & kHighs;
  return ((w & kHighs) | below20 | hasZero(w ^ (kOnes * '"')) | hasZero(w ^ (kOnes * '\\'))) != 0;
}

char* put(char* out, std::string_view s) {
  std::memcpy(out, s.data(), s.size());
  return out + s.size();
}

char* writeControl(char* out, unsigned char c) {
  switch (c) {
    case '"': return put(out, "\\\"");
    case '\\': return put(out, "\\\\");
    case '\b': return put(out, "\\b");
    case '\t': return put(out, "\\t");
    case '\n': return put(out, "\\n");
    case '\f': return put(out, "\\f");
    case '\r': return put(out, "\\r");
    default: {
      const char escaped[6] = {'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 0xF]};
      return put(out, std::string_view(escaped, sizeof escaped));
    }
  }
}

// Length of the well-formed UTF-8 sequence starting at text[i] (a byte >= 0x80), or, when it
// is not well formed, minus the number of bytes of its maximal invalid subpart: the lead and
// the continuation bytes accepted before the byte that broke it, which is then read again as
// a new start. These are the ranges of Unicode Table 3-7, the same transitions as the
// Hoehrmann DFA inside nlohmann's serializer, hence the same U+FFFD placement.
int utf8Sequence(std::string_view text, std::size_t i) {
  const auto lead = static_cast<unsigned char>(text[i]);
  int need;
  unsigned char lo = 0x80, hi = 0xBF;  // the range of the first continuation byte
  if (lead >= 0xC2 && lead <= 0xDF) {
    need = 1;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    need = 2;
    if (lead == 0xE0) lo = 0xA0;       // overlong
    else if (lead == 0xED) hi = 0x9F;  // UTF-16 surrogates
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    need = 3;
    if (lead == 0xF0) lo = 0x90;       // overlong
    else if (lead == 0xF4) hi = 0x8F;  // above U+10FFFF
  } else {
    return -1;  // a continuation byte, C0/C1 (always overlong) or F5..FF
  }
  for (int k = 1; k <= need; ++k) {
    if (i + k >= text.size()) return -k;
    const auto c = static_cast<unsigned char>(text[i + k]);
    if (c < lo || c > hi) return -k;
    lo = 0x80, hi = 0xBF;
  }
  return need + 1;
}

}  // namespace

char* writeJsonEscaped(char* out, std::string_view text) {
  const char* const data = text.data();
  const std::size_t n = text.size();
  std::size_t i = 0;
  while (i < n) {
    // Plain bytes, 8 at a time while whole words are plain (most fields are), then one by one.
    while (i + 8 <= n) {
      std::uint64_t word;
      std::memcpy(&word, data + i, 8);
      if (hasSpecial(word)) break;
      std::memcpy(out, &word, 8);
      out += 8;
      i += 8;
    }
    while (i < n && kPlain[static_cast<unsigned char>(data[i])]) *out++ = data[i++];
    if (i == n) break;
    const auto c = static_cast<unsigned char>(data[i]);
    if (c < 0x80) {
      out = writeControl(out, c);
      ++i;
      continue;
    }
    const int length = utf8Sequence(text, i);
    if (length > 0) {
      out = put(out, text.substr(i, static_cast<std::size_t>(length)));
      i += static_cast<std::size_t>(length);
    } else {
      out = put(out, "\xEF\xBF\xBD");
      i += static_cast<std::size_t>(-length);
    }
  }
  return out;
}

void appendJsonEscaped(std::string& out, std::string_view text) {
  const std::size_t size = out.size();
  out.resize(size + kJsonEscapedMaxGrowth * text.size());
  char* end = writeJsonEscaped(out.data() + size, text);
  out.resize(static_cast<std::size_t>(end - out.data()));
}

}  // namespace portico
