#include "proxy/router/path.h"

#include "proxy/router/hex.h"

namespace portico::proxy::router {
namespace {

bool isUnreserved(unsigned char c) noexcept {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~';
}

bool isForbidden(unsigned char c) noexcept { return c < 0x20 || c == 0x7f || c == '#'; }

constexpr char kUpperHex[] = "0123456789ABCDEF";

}  // namespace

TargetParts splitTarget(std::string_view target) noexcept {
  const size_t q = target.find('?');
  if (q == std::string_view::npos) return {target, {}};
  return {target.substr(0, q), target.substr(q + 1)};
}

std::optional<std::string> normalizePath(std::string_view rawPath) {
  if (rawPath.empty() || rawPath.front() != '/') return std::nullopt;
  std::string out;
  out.reserve(rawPath.size());
  out.push_back('/');
  // Invariant: `out` ends with '/' whenever a new segment starts. Each segment is decoded
  // straight into `out` and only then classified, so "%2e%2e" is a dot segment like "..".
  size_t i = 1;
  const size_t n = rawPath.size();
  while (true) {
    const size_t segmentStart = out.size();
    for (; i < n && rawPath[i] != '/'; ++i) {
      const auto c = static_cast<unsigned char>(rawPath[i]);
      if (c == '%') {
        if (i + 2 >= n) return std::nullopt;  // fewer than two characters after '%'
        const int hi = hexValue(rawPath[i + 1]);
        const int lo = hexValue(rawPath[i + 2]);
        if (hi < 0 || lo < 0) return std::nullopt;
        const auto decoded = static_cast<unsigned char>(hi * 16 + lo);
        if (isUnreserved(decoded)) {
          out.push_back(static_cast<char>(decoded));
        } else {
          out.push_back('%');
          out.push_back(kUpperHex[hi]);
          out.push_back(kUpperHex[lo]);
        }
        i += 2;
        continue;
      }
      if (isForbidden(c)) return std::nullopt;
      out.push_back(static_cast<char>(c));
    }
    const bool last = i >= n;
    const std::string_view segment(out.data() + segmentStart, out.size() - segmentStart);
    if (segment == ".") {
      out.resize(segmentStart);
    } else if (segment == "..") {
      out.resize(segmentStart);
      if (segmentStart > 1) {  // drop the previous segment, but never the root slash
        const size_t previous = out.rfind('/', segmentStart - 2);
        out.resize(previous + 1);
      }
    } else if (!segment.empty() && !last) {
      out.push_back('/');
    }
    if (last) break;
    ++i;  // skip the '/'
  }
  return out;
}

}  // namespace portico::proxy::router
