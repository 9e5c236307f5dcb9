#include "proxy/policy/cors.h"

#include <algorithm>

namespace portico::proxy::policy {

namespace {

constexpr size_t kMaxOriginBytes = 2048;
constexpr size_t kMaxRequestHeadersBytes = 8192;
constexpr size_t kMaxRequestHeaderNames = 64;

char lowerAscii(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

std::string lowerCopy(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = lowerAscii(c);
  return out;
}

std::string_view trimOws(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool isTchar(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool isToken(std::string_view s) { return !s.empty() && std::all_of(s.begin(), s.end(), isTchar); }

struct OriginParts {
  std::string_view scheme;
  std::string_view host;  // with brackets for IPv6
  std::string_view port;  // "" or ":1234"
};

// A lower-case serialized origin, strictly: scheme "://" host [":" port], nothing else.
// `allowWildcard` accepts a leading "*." label in the host (configured patterns).
bool parseOrigin(std::string_view s, OriginParts& out, bool allowWildcard = false) {
  if (s.empty() || s.size() > kMaxOriginBytes) return false;
  size_t sep = s.find("://");
  if (sep == std::string_view::npos || sep == 0) return false;
  out.scheme = s.substr(0, sep);
  if (out.scheme[0] < 'a' || out.scheme[0] > 'z') return false;
  for (char c : out.scheme)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '-' || c == '.')) return false;
  std::string_view rest = s.substr(sep + 3);
  size_t hostEnd;
  if (!rest.empty() && rest.front() == '[') {
    hostEnd = rest.find(']');
    if (hostEnd == std::string_view::npos || hostEnd < 3) return false;
    for (char c : rest.substr(1, hostEnd - 1))
      if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || c == ':' || c == '.')) return false;
    ++hostEnd;
  } else {
    hostEnd = rest.find(':');
    if (hostEnd == std::string_view::npos) hostEnd = rest.size();
    std::string_view host = rest.substr(0, hostEnd);
    if (allowWildcard && host.size() > 2 && host.substr(0, 2) == "*.") host.remove_prefix(2);
    if (host.empty() || host.front() == '.' || host.back() == '.' || host.find("..") != std::string_view::npos)
      return false;
    for (char c : host)
      if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_')) return false;
  }
  out.host = rest.substr(0, hostEnd);
  out.port = rest.substr(hostEnd);
  if (!out.port.empty()) {
    if (out.port.size() < 2 || out.port.size() > 6 || out.port[0] != ':') return false;
    for (char c : out.port.substr(1))
      if (c < '0' || c > '9') return false;
  }
  return true;
}

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& item : items) {
    if (!out.empty()) out += ", ";
    out += item;
  }
  return out;
}

bool isSafelistedMethod(std::string_view m) { return m == "GET" || m == "HEAD" || m == "POST"; }

}  // namespace

bool isPreflight(std::string_view method, bool hasOrigin, bool hasAccessControlRequestMethod) {
  return method == "OPTIONS" && hasOrigin && hasAccessControlRequestMethod;
}

CorsPolicy::CorsPolicy(const CorsSpec& spec) : credentials_(spec.allowCredentials) {
  for (const std::string& raw : spec.allowOrigins) {
    std::string entry = lowerCopy(trimOws(raw));
    if (!entry.empty() && entry.back() == '/') entry.pop_back();
    if (entry == "*") {
      anyOrigin_ = true;
      continue;
    }
    if (entry == "null") {
      allowNull_ = true;
      continue;
    }
    OriginParts parts;
    if (!parseOrigin(entry, parts, /*allowWildcard=*/true)) continue;  // never matches
    if (parts.host.substr(0, 2) == "*.") {
      wildcardOrigins_.push_back(
          WildcardOrigin{std::string(parts.scheme), std::string(parts.host.substr(1)), std::string(parts.port)});
    } else {
      exactOrigins_.push_back(entry);
    }
  }
  for (const std::string& raw : spec.allowMethods) {
    std::string_view m = trimOws(raw);
    if (m == "*") {
      anyMethod_ = true;
    } else if (isToken(m)) {
      methods_.emplace_back(m);
    }
  }
  methodsValue_ = join(methods_);
  std::vector<std::string> headers;
  for (const std::string& raw : spec.allowHeaders) {
    std::string_view h = trimOws(raw);
    if (h == "*") {
      anyHeader_ = true;
    } else if (isToken(h)) {
      headers.emplace_back(h);
      headersLower_.push_back(lowerCopy(h));
    }
  }
  headersValue_ = join(headers);
  std::vector<std::string> expose;
  for (const std::string& raw : spec.exposeHeaders) {
    std::string_view h = trimOws(raw);
    if (isToken(h)) expose.emplace_back(h);
  }
  exposeValue_ = join(expose);
  if (spec.maxAge) maxAgeValue_ = std::to_string(std::max<int64_t>(0, spec.maxAge->count()));
}

bool CorsPolicy::originAllowedLower(std::string_view origin) const {
  if (origin == "null") return allowNull_ || (anyOrigin_ && !credentials_);
  OriginParts parts;
  if (!parseOrigin(origin, parts)) return false;
  if (anyOrigin_) return true;
  for (const std::string& exact : exactOrigins_)
    if (exact == origin) return true;
  for (const WildcardOrigin& w : wildcardOrigins_) {
    // suffix is ".example.com"; the host needs at least one label in front of it.
    if (parts.scheme == w.scheme && parts.port == w.port && parts.host.size() > w.suffix.size() &&
        parts.host.substr(parts.host.size() - w.suffix.size()) == w.suffix)
      return true;
  }
  return false;
}

bool CorsPolicy::originAllowed(std::string_view origin) const { return originAllowedLower(lowerCopy(origin)); }

std::string CorsPolicy::allowOriginValue(std::string_view lowerOrigin) const {
  if (anyOrigin_ && !credentials_) return "*";
  return std::string(lowerOrigin);
}

CorsPreflightResult CorsPolicy::preflight(std::string_view origin, std::string_view requestMethod,
                                          std::string_view requestHeaders) const {
  CorsPreflightResult result;
  std::string lowerOrigin = lowerCopy(origin);
  if (!originAllowedLower(lowerOrigin)) {
    result.denial = CorsDenial::Origin;
    return result;
  }
  std::string_view method = trimOws(requestMethod);
  bool methodOk = isToken(method) &&
                  (anyMethod_ || isSafelistedMethod(method) ||
                   std::find(methods_.begin(), methods_.end(), method) != methods_.end());
  if (!methodOk) {
    result.denial = CorsDenial::Method;
    return result;
  }
  std::string echoedHeaders;
  if (requestHeaders.size() > kMaxRequestHeadersBytes) {
    result.denial = CorsDenial::Headers;
    return result;
  }
  size_t names = 0;
  std::string_view rest = requestHeaders;
  while (true) {
    size_t comma = rest.find(',');
    std::string_view name = trimOws(rest.substr(0, comma));
    if (!name.empty()) {  // empty list elements are ignored
      if (!isToken(name) || ++names > kMaxRequestHeaderNames) {
        result.denial = CorsDenial::Headers;
        return result;
      }
      std::string lower = lowerCopy(name);
      if (!anyHeader_ && std::find(headersLower_.begin(), headersLower_.end(), lower) == headersLower_.end()) {
        result.denial = CorsDenial::Headers;
        return result;
      }
      if (!echoedHeaders.empty()) echoedHeaders += ", ";
      echoedHeaders += lower;
    }
    if (comma == std::string_view::npos) break;
    rest = rest.substr(comma + 1);
  }

  result.allowed = true;
  CorsHeaders& h = result.headers;
  h.emplace_back("Access-Control-Allow-Origin", allowOriginValue(lowerOrigin));
  if (credentials_) h.emplace_back("Access-Control-Allow-Credentials", "true");
  if (anyMethod_)
    h.emplace_back("Access-Control-Allow-Methods", std::string(method));
  else if (!methodsValue_.empty())
    h.emplace_back("Access-Control-Allow-Methods", methodsValue_);
  if (anyHeader_) {
    if (!echoedHeaders.empty()) h.emplace_back("Access-Control-Allow-Headers", echoedHeaders);
  } else if (!headersValue_.empty()) {
    h.emplace_back("Access-Control-Allow-Headers", headersValue_);
  }
  if (maxAgeValue_) h.emplace_back("Access-Control-Max-Age", *maxAgeValue_);
  std::string vary = "Origin";
  if (anyMethod_) vary += ", Access-Control-Request-Method";
  if (anyHeader_) vary += ", Access-Control-Request-Headers";
  h.emplace_back("Vary", std::move(vary));
  return result;
}

CorsHeaders CorsPolicy::actualResponseHeaders(std::string_view origin) const {
  CorsHeaders h;
  if (anyOrigin_ && !credentials_) {
    // The answer is the same for every origin: no Vary needed.
    if (origin.empty()) return h;
    h.emplace_back("Access-Control-Allow-Origin", "*");
    if (!exposeValue_.empty()) h.emplace_back("Access-Control-Expose-Headers", exposeValue_);
    return h;
  }
  std::string lowerOrigin = lowerCopy(origin);
  if (!origin.empty() && originAllowedLower(lowerOrigin)) {
    h.emplace_back("Access-Control-Allow-Origin", allowOriginValue(lowerOrigin));
    if (credentials_) h.emplace_back("Access-Control-Allow-Credentials", "true");
    if (!exposeValue_.empty()) h.emplace_back("Access-Control-Expose-Headers", exposeValue_);
  }
  h.emplace_back("Vary", "Origin");
  return h;
}

}  // namespace portico::proxy::policy
