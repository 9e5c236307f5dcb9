#include "proxy/router/route_index.h"

#include <re2/re2.h>

#include <algorithm>
#include <utility>

#include "proxy/router/path.h"
#include "proxy/router/query.h"

namespace portico::proxy {
namespace router {
namespace {

re2::StringPiece piece(std::string_view s) noexcept { return re2::StringPiece(s.data(), s.size()); }

// Exact and Prefix values are compared with normalized request paths, so they are
// normalized the same way ("/a/./b" and "/%61" still work). A value normalizePath rejects
// is kept as written: as an Exact path it then never matches; as a Prefix its segments are
// used as they are.
std::string normalizedSpecPath(const std::string& path) {
  std::optional<std::string> normalized = normalizePath(path);
  return normalized ? std::move(*normalized) : path;
}

}  // namespace

bool RouteConditions::matches(const RequestView& request) const noexcept {
  if (!methods.empty()) {
    const std::string_view method = request.method();
    if (std::find(methods.begin(), methods.end(), method) == methods.end()) return false;
  }
  for (const Header& h : headers) {
    const std::optional<std::string_view> value = request.header(h.name);
    if (!value) return false;
    switch (h.type) {
      case HeaderMatchType::Exact:
        if (*value != h.value) return false;
        break;
      case HeaderMatchType::RegularExpression:
        if (!re2::RE2::FullMatch(piece(*value), *h.regex)) return false;
        break;
      case HeaderMatchType::Present:
        break;
    }
  }
  if (!query.empty()) {
    // Parsed lazily: only candidates with query matches look at the query string.
    const std::string_view raw = request.query();
    for (const QueryMatch& q : query) {
      const std::optional<std::string_view> value = findRawQueryValue(raw, q.name);
      if (!value || !decodedEquals(*value, q.value)) return false;
    }
  }
  return true;
}

}  // namespace router

using router::CandidateList;
using router::HostRoutes;
using router::PrefixTrieNode;

RouteIndex::~RouteIndex() = default;

Expected<std::unique_ptr<RouteIndex>> RouteIndex::build(
    const std::vector<Route>& routes, const std::vector<std::string>& httpsRedirectHosts) {
  std::unique_ptr<RouteIndex> index(new RouteIndex());
  re2::RE2::Options options;
  options.set_log_errors(false);

  router::StringMap<const re2::RE2*> compiled;  // one RE2 per distinct pattern
  auto compile = [&](const std::string& pattern, std::string& error) -> const re2::RE2* {
    if (auto it = compiled.find(pattern); it != compiled.end()) return it->second;
    auto re = std::make_unique<re2::RE2>(pattern, options);
    if (!re->ok()) {
      error = re->error();
      return nullptr;
    }
    const re2::RE2* raw = re.get();
    index->regexes_.push_back(std::move(re));
    compiled.emplace(pattern, raw);
    return raw;
  };
  auto regexError = [](const RouteSpec& spec, const std::string& field, const std::string& pattern,
                       const std::string& reason) {
    return makeError("route \"" + spec.name + "\": " + field + ": invalid regular expression \"" +
                     pattern + "\": " + reason);
  };

  index->conditions_.resize(routes.size());
  std::vector<const re2::RE2*> pathRegex(routes.size(), nullptr);
  for (size_t i = 0; i < routes.size(); ++i) {
    const RouteSpec& spec = routes[i].spec;
    router::RouteConditions& conditions = index->conditions_[i];
    conditions.methods = spec.methods;
    conditions.query = spec.query;
    for (size_t h = 0; h < spec.headers.size(); ++h) {
      const HeaderMatch& match = spec.headers[h];
      router::RouteConditions::Header header{router::toLowerAscii(match.name), match.type,
                                             match.value, nullptr};
      if (match.type == HeaderMatchType::RegularExpression) {
        std::string error;
        header.regex = compile(match.value, error);
        if (!header.regex) {
          return regexError(
              spec,
              "match.headers[" + std::to_string(h) + "].value (header \"" + match.name + "\")",
              match.value, error);
        }
      }
      conditions.headers.push_back(std::move(header));
    }
    if (spec.pathType == PathMatchType::RegularExpression) {
      std::string error;
      pathRegex[i] = compile(spec.path, error);
      if (!pathRegex[i]) return regexError(spec, "match.path.value", spec.path, error);
    }
  }

  auto addRoute = [&](HostRoutes& bucket, uint32_t i) {
    const RouteSpec& spec = routes[i].spec;
    switch (spec.pathType) {
      case PathMatchType::Exact:
        bucket.exactPaths[router::normalizedSpecPath(spec.path)].push_back(i);
        break;
      case PathMatchType::RegularExpression: {
        auto group =
            std::find_if(bucket.regexGroups.begin(), bucket.regexGroups.end(),
                         [&](const router::RegexGroup& g) { return g.regex == pathRegex[i]; });
        if (group == bucket.regexGroups.end()) {
          bucket.regexGroups.push_back({pathRegex[i], {i}});
        } else {
          group->candidates.push_back(i);
        }
        break;
      }
      case PathMatchType::Prefix: {
        if (bucket.prefixTrie.empty()) bucket.prefixTrie.emplace_back();
        uint32_t node = 0;
        // A prefix's trailing slash is ignored: "/foo/" has the single segment "foo".
        router::forEachSegment(
            router::normalizedSpecPath(spec.path), [&](std::string_view segment) {
              auto& children = bucket.prefixTrie[node].children;
              if (auto it = children.find(segment); it != children.end()) {
                node = it->second;
                return;
              }
              const auto child = static_cast<uint32_t>(bucket.prefixTrie.size());
              children.emplace(std::string(segment), child);
              bucket.prefixTrie.emplace_back();  // invalidates `children`; not used again
              bucket.prefixTrie.back().parent = node;
              node = child;
            });
        bucket.prefixTrie[node].candidates.push_back(i);
        break;
      }
    }
  };

  for (size_t i = 0; i < routes.size(); ++i) {
    const auto routeIndex = static_cast<uint32_t>(i);
    const std::vector<std::string>& hosts = routes[i].spec.hosts;
    if (hosts.empty()) {
      addRoute(index->catchAll_, routeIndex);
      continue;
    }
    bool addedToCatchAll = false;
    router::StringSet seenExact;
    router::StringSet seenWildcard;
    for (const std::string& host : hosts) {
      router::HostPattern pattern = router::parseHostPattern(host);
      switch (pattern.kind) {
        case router::HostPatternKind::Any:
          if (!addedToCatchAll) addRoute(index->catchAll_, routeIndex);
          addedToCatchAll = true;
          break;
        case router::HostPatternKind::Wildcard:
          if (seenWildcard.insert(pattern.key).second) {
            addRoute(index->wildcardHosts_[pattern.key], routeIndex);
          }
          break;
        case router::HostPatternKind::Exact:
          if (seenExact.insert(pattern.key).second) {
            addRoute(index->exactHosts_[pattern.key], routeIndex);
          }
          break;
      }
    }
  }

  // Routes were added in creation order; a stable sort by the tie-break rules finishes it.
  auto precedes = [&](uint32_t a, uint32_t b) {
    const RouteSpec& x = routes[a].spec;
    const RouteSpec& y = routes[b].spec;
    if (x.methods.empty() != y.methods.empty()) return !x.methods.empty();
    if (x.headers.size() != y.headers.size()) return x.headers.size() > y.headers.size();
    if (x.query.size() != y.query.size()) return x.query.size() > y.query.size();
    return a < b;
  };
  auto sortBucket = [&](HostRoutes& bucket) {
    for (auto& [path, candidates] : bucket.exactPaths) {
      std::stable_sort(candidates.begin(), candidates.end(), precedes);
    }
    for (router::RegexGroup& group : bucket.regexGroups) {
      std::stable_sort(group.candidates.begin(), group.candidates.end(), precedes);
    }
    for (PrefixTrieNode& node : bucket.prefixTrie) {
      std::stable_sort(node.candidates.begin(), node.candidates.end(), precedes);
    }
  };
  for (auto& [host, bucket] : index->exactHosts_) sortBucket(bucket);
  for (auto& [suffix, bucket] : index->wildcardHosts_) sortBucket(bucket);
  sortBucket(index->catchAll_);

  for (const std::string& host : httpsRedirectHosts) index->redirectHosts_.add(host);
  return index;
}

size_t RouteIndex::firstMatching(const CandidateList& candidates,
                                 const RequestView& request) const noexcept {
  for (const uint32_t candidate : candidates) {
    if (conditions_[candidate].matches(request)) return candidate;
  }
  return kNoRoute;
}

size_t RouteIndex::matchIn(const HostRoutes& bucket, std::string_view path,
                           const RequestView& request) const noexcept {
  if (!bucket.exactPaths.empty()) {
    if (auto it = bucket.exactPaths.find(path); it != bucket.exactPaths.end()) {
      if (const size_t found = firstMatching(it->second, request); found != kNoRoute) return found;
    }
  }
  for (const router::RegexGroup& group : bucket.regexGroups) {
    if (!re2::RE2::FullMatch(router::piece(path), *group.regex)) continue;
    if (const size_t found = firstMatching(group.candidates, request); found != kNoRoute) {
      return found;
    }
  }
  if (bucket.prefixTrie.empty()) return kNoRoute;
  // Walk down as far as the request's segments go, then try the deepest node first.
  uint32_t node = 0;
  size_t pos = 0;
  while (pos < path.size()) {
    size_t end = path.find('/', pos);
    if (end == std::string_view::npos) end = path.size();
    if (end > pos) {
      const auto& children = bucket.prefixTrie[node].children;
      if (children.empty()) break;
      const auto it = children.find(path.substr(pos, end - pos));
      if (it == children.end()) break;
      node = it->second;
    }
    pos = end + 1;
  }
  while (node != PrefixTrieNode::kNoParent) {
    const PrefixTrieNode& current = bucket.prefixTrie[node];
    if (const size_t found = firstMatching(current.candidates, request); found != kNoRoute) {
      return found;
    }
    node = current.parent;
  }
  return kNoRoute;
}

size_t RouteIndex::match(const RequestView& request) const noexcept {
  const std::string_view host = request.host();
  const std::string_view path = request.path();
  if (!exactHosts_.empty()) {
    if (auto it = exactHosts_.find(host); it != exactHosts_.end()) {
      if (const size_t found = matchIn(it->second, path, request); found != kNoRoute) return found;
    }
  }
  if (!wildcardHosts_.empty()) {
    const std::string_view suffix = router::wildcardSuffixOf(host);
    if (!suffix.empty()) {
      if (auto it = wildcardHosts_.find(suffix); it != wildcardHosts_.end()) {
        if (const size_t found = matchIn(it->second, path, request); found != kNoRoute) {
          return found;
        }
      }
    }
  }
  return matchIn(catchAll_, path, request);
}

}  // namespace portico::proxy
