#include "proxy/common/json_escape.h"

#include <array>
#include <cstdint>

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

void appendControl(std::string& out, unsigned char c) {
  switch (c) {
    case '"': out.append("\\\""); return;
    case '\\': out.append("\\\\"); return;
    case '\b': out.append("\\b"); return;
    case '\t': out.append("\\t"); return;
    case '\n': out.append("\\n"); return;
    case '\f': out.append("\\f"); return;
    case '\r': out.append("\\r"); return;
    default: {
      const char escaped[6] = {'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 0xF]};
      out.append(escaped, sizeof escaped);
    }
  }
}

// Length of the well-formed UTF-8 sequence starting at text[i] (a byte >= 0x80), or, when it
// is not well formed, minus the number of bytes of its maximal invalid subpart: the lead and
// the continuation bytes accepted before the byte that broke it, which is then read again as
// a new start. These are the ranges of Unicode Table 3-7, the same transitions as the
// Hoehrmann DFA inside nlohmann's serializer, hence the same U+FFFD placement.
int utf8Sequence(std::string_view text, size_t i) {
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

void appendJsonEscaped(std::string& out, std::string_view text) {
  size_t i = 0;
  const size_t n = text.size();
  while (i < n) {
    size_t run = i;
    while (run < n && kPlain[static_cast<unsigned char>(text[run])]) ++run;
    out.append(text.data() + i, run - i);
    i = run;
    if (i == n) break;
    const auto c = static_cast<unsigned char>(text[i]);
    if (c < 0x80) {
      appendControl(out, c);
      ++i;
      continue;
    }
    const int length = utf8Sequence(text, i);
    if (length > 0) {
      out.append(text.data() + i, static_cast<size_t>(length));
      i += static_cast<size_t>(length);
    } else {
      out.append("\xEF\xBF\xBD");
      i += static_cast<size_t>(-length);
    }
  }
}

}  // namespace portico
