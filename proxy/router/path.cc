#include "proxy/router/path.h"

#include "proxy/router/hex.h"

namespace portico::proxy::router {
namespace {

bool isUnreserved(unsigned char c) noexcept {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~';
}

bool isControl(unsigned char c) noexcept { return c < 0x20 || c == 0x7f; }
bool isForbidden(unsigned char c) noexcept { return isControl(c) || c == '#'; }

// "%2F", "%2f", "%5C", "%5c" at i.
bool escapedSlashAt(std::string_view s, size_t i) noexcept {
  if (i + 2 >= s.size() || s[i] != '%') return false;
  const char hi = s[i + 1], lo = static_cast<char>(s[i + 2] | 0x20);
  return (hi == '2' && lo == 'f') || (hi == '5' && lo == 'c');
}

// A segment that is "." or ".." once its ";parameters" are cut off.
bool hiddenDotSegment(std::string_view segment) noexcept {
  const size_t semicolon = segment.find(';');
  if (semicolon == std::string_view::npos) return false;
  const std::string_view base = segment.substr(0, semicolon);
  return base == "." || base == "..";
}

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
        if (isControl(decoded)) return std::nullopt;  // "%00" is never a path byte
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
    if (hiddenDotSegment(segment)) return std::nullopt;
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

PathNormalization normalizePath(std::string_view rawPath, EscapedSlashes action) {
  PathNormalization out;
  bool found = false;
  for (size_t i = 0; i < rawPath.size() && !found; ++i) found = rawPath[i] == '\\' || escapedSlashAt(rawPath, i);
  out.escapedSlashes = found;
  if (!found || action == EscapedSlashes::Keep) {
    out.path = normalizePath(rawPath);
    return out;
  }
  if (action == EscapedSlashes::Reject) return out;
  std::string unescaped;
  unescaped.reserve(rawPath.size());
  for (size_t i = 0; i < rawPath.size(); ++i) {
    if (rawPath[i] == '\\') {
      unescaped.push_back('/');
    } else if (escapedSlashAt(rawPath, i)) {
      unescaped.push_back('/');
      i += 2;
    } else {
      unescaped.push_back(rawPath[i]);
    }
  }
  out.path = normalizePath(unescaped);
  return out;
}

std::string withoutPathParameters(std::string_view path) {
  std::string out;
  out.reserve(path.size());
  for (size_t i = 0; i < path.size();) {
    if (path[i] == ';') {
      const size_t slash = path.find('/', i);
      i = slash == std::string_view::npos ? path.size() : slash;
      continue;
    }
    out.push_back(path[i++]);
  }
  return out;
}

}  // namespace portico::proxy::router
