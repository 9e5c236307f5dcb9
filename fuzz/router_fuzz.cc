// Fuzz target: the router's host, path, method, header and query matching
// (RouteTable::match over proxy/router/route_index) against a fixed table.
//
// Input: text lines. Line 1: method; line 2: Host (lower-cased here; the session strips the
// port and lower-cases it); line 3: the request target ("/a/b?x=1"), split with splitTarget
// and normalized with normalizePath as the session does (an invalid path is a 400 and never
// reaches the router); further lines: "name: value" header fields.
//
// Properties checked, against a naive reference matcher written from the precedence rules
// in proxy/router/route_index.h (host buckets exact -> wildcard -> catch-all with
// fall-through; Exact path > RegularExpression groups in creation order > longest Prefix;
// ties: methods first, more headers, more query matches, creation order):
//   - match() picks the same route as the reference (or none when it finds none);
//   - findRawQueryValue agrees with parseQuery, and decodedEquals with decodeQueryComponent.
#include <re2/re2.h>

#include <algorithm>
#include <cstdint>
#include <cctype>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "fuzz/fuzz_input.h"
#include "proxy/config/route_table.h"
#include "proxy/router/host_set.h"
#include "proxy/router/path.h"
#include "proxy/router/query.h"

namespace {

using namespace portico::proxy;
using portico::fuzz::check;
constexpr size_t kNone = SIZE_MAX;  // no route

RouteSpec route(std::string name, std::vector<std::string> hosts, PathMatchType type, std::string path) {
  RouteSpec r;
  r.name = std::move(name);
  r.hosts = std::move(hosts);
  r.pathType = type;
  r.path = std::move(path);
  return r;
}

RouteTableSpec fixedSpec() {
  using enum PathMatchType;
  std::vector<RouteSpec> rs;
  rs.push_back(route("shop/api/health", {"api.example.com"}, Exact, "/healthz"));
  rs.push_back(route("shop/api/orders-read", {"api.example.com"}, Prefix, "/orders"));
  rs.back().methods = {"GET", "HEAD"};
  rs.push_back(route("shop/api/orders-write", {"api.example.com"}, Prefix, "/orders"));
  rs.back().methods = {"POST"};
  rs.push_back(route("shop/api/orders-canary", {"api.example.com"}, Prefix, "/orders"));
  rs.back().headers = {{"x-canary", HeaderMatchType::Exact, "yes"}};
  rs.push_back(route("shop/api/orders-v2", {"api.example.com"}, Prefix, "/orders/v2/"));
  rs.back().query = {{"v", "2"}};
  rs.push_back(route("shop/api/users", {"api.example.com"}, RegularExpression, "/users/[0-9]+(/.*)?"));
  rs.push_back(route("shop/api/users-admin", {"api.example.com"}, RegularExpression, "/users/[0-9]+(/.*)?"));
  rs.back().headers = {{"x-role", HeaderMatchType::RegularExpression, "admin|root"}};
  rs.push_back(route("shop/api/cafe", {"api.example.com"}, Prefix, "/caf\xc3\xa9"));
  rs.push_back(route("shop/wild/any", {"*.example.com"}, Prefix, "/"));
  rs.push_back(route("shop/wild/static", {"*.example.com", "static.example.org"}, Prefix, "/static"));
  rs.back().headers = {{"accept", HeaderMatchType::Present, ""}};
  rs.push_back(route("shop/wild/root", {"*.example.org"}, Exact, "/"));
  rs.push_back(route("shop/wild/deep", {"*.example.org"}, Prefix, "/a/b/c/d"));
  rs.back().methods = {"GET"};
  rs.back().headers = {{"x-a", HeaderMatchType::Exact, "1"}, {"x-b", HeaderMatchType::Present, ""}};
  rs.push_back(route("default/catch/root", {}, Prefix, "/"));
  rs.push_back(route("default/catch/admin", {}, Prefix, "/admin"));
  rs.back().methods = {"GET"};
  rs.back().query = {{"token", "a b"}, {"x", ""}};
  rs.push_back(route("default/catch/api", {}, RegularExpression, "/(api|v[0-9])/.*"));
  rs.push_back(route("default/catch/login", {}, Exact, "/login"));
  rs.back().methods = {"POST"};
  rs.push_back(route("default/catch/files", {}, Prefix, "/files%2Fsecret"));
  rs.push_back(route("default/catch/any-host", {"*"}, Exact, "/admin/login"));
  rs.push_back(route("default/catch/api-v1", {}, RegularExpression, "/v1/.*"));
  rs.back().headers = {{"authorization", HeaderMatchType::RegularExpression, "Bearer .+"}};
  RouteTableSpec spec;
  spec.routes = std::move(rs);
  spec.httpsRedirectHosts = {"secure.example.com", "*.secure.example.org"};
  return spec;
}

class Request : public RequestView {
 public:
  std::string_view method_, path_, query_;
  std::string host_;
  std::vector<std::pair<std::string_view, std::string_view>> headers_;

  std::string_view method() const override { return method_; }
  std::string_view host() const override { return host_; }
  std::string_view path() const override { return path_; }
  std::string_view query() const override { return query_; }
  std::optional<std::string_view> header(std::string_view name) const override {
    for (const auto& [n, v] : headers_)
      if (n.size() == name.size() && std::equal(n.begin(), n.end(), name.begin(), [](char a, char b) {
            return std::tolower(static_cast<unsigned char>(a)) == std::tolower(static_cast<unsigned char>(b));
          }))
        return v;
    return std::nullopt;
  }
};

// ---- the reference matcher: slow, obvious, written from the documented rules ----

std::vector<std::string_view> segments(std::string_view path) {
  std::vector<std::string_view> out;
  for (size_t pos = 0; pos < path.size();) {
    size_t end = std::min(path.find('/', pos), path.size());
    if (end > pos) out.push_back(path.substr(pos, end - pos));
    pos = end + 1;
  }
  return out;
}

bool conditionsHold(const RouteSpec& r, const Request& req) {
  if (!r.methods.empty() && std::find(r.methods.begin(), r.methods.end(), req.method()) == r.methods.end())
    return false;
  for (const HeaderMatch& h : r.headers) {
    const auto v = req.header(h.name);
    if (!v) return false;
    if (h.type == HeaderMatchType::Exact && *v != h.value) return false;
    if (h.type == HeaderMatchType::RegularExpression && !RE2::FullMatch(re2::StringPiece(v->data(), v->size()), RE2(h.value)))
      return false;
  }
  const std::vector<router::QueryParam> params = router::parseQuery(req.query());
  for (const QueryMatch& q : r.query) {
    auto it = std::find_if(params.begin(), params.end(), [&](const auto& p) { return p.name == q.name; });
    if (it == params.end() || it->value != q.value) return false;
  }
  return true;
}

// Tie-break order of candidates with the same path type and value.
bool precedes(const RouteSpec& a, size_t ia, const RouteSpec& b, size_t ib) {
  if (a.methods.empty() != b.methods.empty()) return !a.methods.empty();
  if (a.headers.size() != b.headers.size()) return a.headers.size() > b.headers.size();
  if (a.query.size() != b.query.size()) return a.query.size() > b.query.size();
  return ia < ib;
}

size_t referenceInBucket(const std::vector<Route>& routes, const std::vector<size_t>& bucket, const Request& req) {
  const std::string_view path = req.path();
  auto best = [&](std::vector<size_t> cands) -> size_t {
    std::sort(cands.begin(), cands.end(), [&](size_t a, size_t b) {
      return precedes(routes[a].spec, a, routes[b].spec, b);
    });
    for (size_t c : cands)
      if (conditionsHold(routes[c].spec, req)) return c;
    return kNone;
  };
  std::vector<size_t> exact;
  std::vector<std::string> groupOrder;
  std::map<std::string, std::vector<size_t>> groups;
  std::map<size_t, std::vector<size_t>> prefixesByDepth;
  const std::vector<std::string_view> pathSegs = segments(path);
  for (size_t i : bucket) {
    const RouteSpec& r = routes[i].spec;
    if (r.pathType == PathMatchType::Exact && r.path == path) exact.push_back(i);
    if (r.pathType == PathMatchType::RegularExpression) {
      if (!groups.contains(r.path)) groupOrder.push_back(r.path);
      groups[r.path].push_back(i);
    }
    if (r.pathType == PathMatchType::Prefix) {
      const std::vector<std::string_view> prefixSegs = segments(r.path);
      if (prefixSegs.size() <= pathSegs.size() && std::equal(prefixSegs.begin(), prefixSegs.end(), pathSegs.begin()))
        prefixesByDepth[prefixSegs.size()].push_back(i);
    }
  }
  if (size_t found = best(exact); found != kNone) return found;
  for (const std::string& pattern : groupOrder) {
    if (!RE2::FullMatch(re2::StringPiece(path.data(), path.size()), RE2(pattern))) continue;
    if (size_t found = best(groups[pattern]); found != kNone) return found;
  }
  for (auto it = prefixesByDepth.rbegin(); it != prefixesByDepth.rend(); ++it)
    if (size_t found = best(it->second); found != kNone) return found;
  return kNone;
}

size_t referenceMatch(const std::vector<Route>& routes, const Request& req) {
  const std::string_view host = req.host();
  const std::string_view suffix = router::wildcardSuffixOf(host);
  std::vector<size_t> exactBucket, wildcardBucket, catchAll;
  for (size_t i = 0; i < routes.size(); ++i) {
    const RouteSpec& r = routes[i].spec;
    bool any = r.hosts.empty(), exact = false, wildcard = false;
    for (const std::string& h : r.hosts) {
      const router::HostPattern p = router::parseHostPattern(h);
      any |= p.kind == router::HostPatternKind::Any;
      exact |= p.kind == router::HostPatternKind::Exact && p.key == host;
      wildcard |= p.kind == router::HostPatternKind::Wildcard && !suffix.empty() && p.key == suffix;
    }
    if (exact) exactBucket.push_back(i);
    if (wildcard) wildcardBucket.push_back(i);
    if (any) catchAll.push_back(i);
  }
  for (const auto* bucket : {&exactBucket, &wildcardBucket, &catchAll})
    if (size_t found = referenceInBucket(routes, *bucket, req); found != kNone) return found;
  return kNone;
}

void checkQueryHelpers(std::string_view query) {
  const std::vector<router::QueryParam> params = router::parseQuery(query);
  router::QueryParamIterator it(query);
  router::RawQueryParam raw;
  size_t i = 0;
  while (it.next(raw)) {
    check(i < params.size(), "iterator and parseQuery agree on the count", query);
    const std::string name = router::decodeQueryComponent(raw.name);
    const std::string value = router::decodeQueryComponent(raw.value);
    check(name == params[i].name && value == params[i].value, "iterator and parseQuery agree", query);
    check(router::decodedEquals(raw.name, name) && router::decodedEquals(raw.value, value),
          "decodedEquals(x, decode(x))", query);
    if (!value.empty()) check(!router::decodedEquals(raw.value, value + "x"), "decodedEquals is not a prefix test", query);
    const auto first = router::findRawQueryValue(query, name);
    const auto firstParam = std::find_if(params.begin(), params.end(), [&](const auto& p) { return p.name == name; });
    check(first.has_value() && firstParam != params.end() &&
              router::decodeQueryComponent(*first) == firstParam->value,
          "findRawQueryValue finds the first parameter of that name", query);
    ++i;
  }
  check(i == params.size(), "iterator and parseQuery agree on the count", query);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const RouteTableConstSharedPtr table = [] {
    auto built = RouteTable::build(fixedSpec(), 1);
    if (!built) portico::fuzz::fail("fixed table builds", built.error().message);
    return *built;
  }();
  if (size > 4096) return 0;
  const std::vector<std::string_view> lines =
      portico::fuzz::splitLines(std::string_view(reinterpret_cast<const char*>(data), size), 40);
  if (lines.size() < 3) return 0;
  Request req;
  req.method_ = lines[0];
  req.host_.assign(lines[1]);
  for (char& c : req.host_) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  const router::TargetParts parts = router::splitTarget(lines[2]);
  req.query_ = parts.query;
  checkQueryHelpers(parts.query);
  const std::optional<std::string> path = router::normalizePath(parts.path);
  if (!path) return 0;
  req.path_ = *path;
  for (size_t i = 3; i < lines.size(); ++i) {
    const size_t colon = lines[i].find(':');
    if (colon == std::string_view::npos) continue;
    std::string_view value = lines[i].substr(colon + 1);
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
    req.headers_.emplace_back(lines[i].substr(0, colon), value);
  }
  (void)table->redirectsToHttps(req.host());
  const Route* found = table->match(req);
  const size_t got = found ? found->index : kNone;
  const size_t want = referenceMatch(table->routes(), req);
  if (got != want) {
    const std::string detail = std::string(req.method()) + " " + req.host_ + " " + *path + " -> " +
                               (found ? found->spec.name : "none") + ", reference: " +
                               (want == kNone ? "none" : table->routes()[want].spec.name);
    portico::fuzz::fail("match agrees with the reference matcher", detail);
  }
  return 0;
}
