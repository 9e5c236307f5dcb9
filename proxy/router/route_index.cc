#include "proxy/router/route_index.h"

#include <re2/re2.h>

#include <algorithm>
#include <optional>
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
  if (!localAddresses.empty() &&
      std::find(localAddresses.begin(), localAddresses.end(), request.localAddress()) == localAddresses.end())
    return false;
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

router::CompiledRoute::~CompiledRoute() = default;
RouteIndex::~RouteIndex() = default;

using router::CandidateList;
using router::HostRoutes;
using router::HostRoutesPtr;
using router::PrefixTrieNode;

namespace {

constexpr uint32_t kFreeSlot = UINT32_MAX;

// The buckets a route is in.
struct BucketKeys {
  std::vector<std::string> exact;
  std::vector<std::string> wildcard;  // suffixes after "*."
  bool catchAll = false;
};

BucketKeys bucketKeysOf(const RouteSpec& spec) {
  BucketKeys keys;
  if (spec.stream) return keys;  // layer 4: in no bucket, never matched by HTTP requests
  if (spec.hosts.empty()) keys.catchAll = true;
  auto addOnce = [](std::vector<std::string>& list, std::string key) {
    if (std::find(list.begin(), list.end(), key) == list.end()) list.push_back(std::move(key));
  };
  for (const std::string& host : spec.hosts) {
    router::HostPattern pattern = router::parseHostPattern(host);
    switch (pattern.kind) {
      case router::HostPatternKind::Any:
        keys.catchAll = true;
        break;
      case router::HostPatternKind::Wildcard:
        addOnce(keys.wildcard, std::move(pattern.key));
        break;
      case router::HostPatternKind::Exact:
        addOnce(keys.exact, std::move(pattern.key));
        break;
    }
  }
  return keys;
}

// Calls f(slot) for every route of the bucket.
template <class F>
void forEachSlot(const HostRoutes& bucket, F&& f) {
  for (const auto& [path, candidates] : bucket.exactPaths)
    for (uint32_t slot : candidates) f(slot);
  for (const PrefixTrieNode& node : bucket.prefixTrie)
    for (uint32_t slot : node.candidates) f(slot);
  for (const router::RegexGroup& group : bucket.regexGroups)
    for (uint32_t slot : group.candidates) f(slot);
}

// Route indices of one bucket to build; empty members = the bucket goes away.
struct PendingBucket {
  std::vector<uint32_t> members;
};

}  // namespace

Expected<std::unique_ptr<RouteIndex>> RouteIndex::build(const std::vector<Route>& routes,
                                                        const std::vector<std::string>& httpsRedirectHosts,
                                                        const RouteIndex* previous,
                                                        const std::vector<Route>* previousRoutes) {
  std::unique_ptr<RouteIndex> index(new RouteIndex());
  const size_t n = routes.size();

  // Start from the previous index only if the routes it shares kept their relative order
  // (reused buckets keep the order their candidates were sorted in).
  bool incremental = previous && previousRoutes && previousRoutes->size() == previous->slotOfRoute_.size();
  if (incremental) {
    size_t next = 0;  // the smallest previousIndex the next kept route may have
    for (const Route& route : routes) {
      if (route.previousIndex == Route::kNoPrevious) continue;
      if (route.previousIndex < next || route.previousIndex >= previousRoutes->size()) {
        incremental = false;
        break;
      }
      next = route.previousIndex + 1;
    }
  }

  // Slots: kept routes keep theirs; the slots of routes that went away are freed.
  index->slotOfRoute_.assign(n, kFreeSlot);
  std::vector<bool> freed;  // slot -> freed by this build (its old bucket memberships are void)
  std::vector<uint32_t> removed;  // previous route indices not kept
  if (incremental) {
    index->compiled_ = previous->compiled_;
    std::vector<bool> kept(previousRoutes->size(), false);
    for (size_t i = 0; i < n; ++i) {
      if (const size_t p = routes[i].previousIndex; p != Route::kNoPrevious) {
        kept[p] = true;
        index->slotOfRoute_[i] = previous->slotOfRoute_[p];
      }
    }
    freed.assign(index->compiled_.size(), false);
    for (size_t p = 0; p < kept.size(); ++p) {
      if (kept[p]) continue;
      const uint32_t slot = previous->slotOfRoute_[p];
      index->compiled_[slot].reset();
      freed[slot] = true;
      removed.push_back(static_cast<uint32_t>(p));
    }
  }
  std::vector<uint32_t> freeSlots;
  for (size_t slot = index->compiled_.size(); slot-- > 0;)
    if (!index->compiled_[slot]) freeSlots.push_back(static_cast<uint32_t>(slot));

  re2::RE2::Options options;
  options.set_log_errors(false);
  auto regexError = [](const RouteSpec& spec, const std::string& field, const std::string& pattern,
                       const std::string& reason) {
    return makeError("route \"" + spec.name + "\": " + field + ": invalid regular expression \"" +
                     pattern + "\": " + reason);
  };
  std::string error;
  auto compileRegex = [&](router::CompiledRoute& route, const std::string& pattern) -> const re2::RE2* {
    auto re = std::make_unique<re2::RE2>(pattern, options);
    if (!re->ok()) {
      error = re->error();
      return nullptr;
    }
    route.regexes.push_back(std::move(re));
    return route.regexes.back().get();
  };

  // Compile the new and changed routes into free slots.
  std::vector<uint32_t> added;  // route indices
  for (size_t i = 0; i < n; ++i) {
    if (index->slotOfRoute_[i] != kFreeSlot) continue;
    const RouteSpec& spec = routes[i].spec;
    auto compiled = std::make_shared<router::CompiledRoute>();
    compiled->conditions.methods = spec.methods;
    compiled->conditions.query = spec.query;
    compiled->wildcardAnyDepth = spec.wildcardAnyDepth;
    compiled->conditions.localAddresses = spec.localAddresses;
    for (size_t h = 0; h < spec.headers.size(); ++h) {
      const HeaderMatch& match = spec.headers[h];
      router::RouteConditions::Header header{router::toLowerAscii(match.name), match.type, match.value, nullptr};
      if (match.type == HeaderMatchType::RegularExpression) {
        header.regex = compileRegex(*compiled, match.value);
        if (!header.regex) {
          return regexError(spec, "match.headers[" + std::to_string(h) + "].value (header \"" + match.name + "\")",
                            match.value, error);
        }
      }
      compiled->conditions.headers.push_back(std::move(header));
    }
    if (spec.pathType == PathMatchType::RegularExpression) {
      compiled->pathRegex = compileRegex(*compiled, spec.path);
      if (!compiled->pathRegex)
        return regexError(spec, "match.path.value", spec.path, error);
    }
    uint32_t slot;
    if (freeSlots.empty()) {
      slot = static_cast<uint32_t>(index->compiled_.size());
      index->compiled_.emplace_back();
    } else {
      slot = freeSlots.back();
      freeSlots.pop_back();
    }
    index->compiled_[slot] = std::move(compiled);
    index->slotOfRoute_[i] = slot;
    added.push_back(static_cast<uint32_t>(i));
    ++index->stats_.compiled;
  }
  index->routeOfSlot_.assign(index->compiled_.size(), kFreeSlot);
  for (size_t i = 0; i < n; ++i) index->routeOfSlot_[index->slotOfRoute_[i]] = static_cast<uint32_t>(i);

  // The buckets to build: those of the added routes and of the removed ones. Their
  // members: the added routes, and the previous bucket's routes that stay.
  router::StringMap<PendingBucket> exactPending;
  router::StringMap<PendingBucket> wildcardPending;
  std::optional<PendingBucket> catchAllPending;
  auto touch = [&](const RouteSpec& spec, std::optional<uint32_t> member) {
    BucketKeys keys = bucketKeysOf(spec);
    for (std::string& key : keys.exact) {
      auto& pending = exactPending[std::move(key)];
      if (member) pending.members.push_back(*member);
    }
    for (std::string& key : keys.wildcard) {
      auto& pending = wildcardPending[std::move(key)];
      if (member) pending.members.push_back(*member);
    }
    if (keys.catchAll) {
      if (!catchAllPending) catchAllPending.emplace();
      if (member) catchAllPending->members.push_back(*member);
    }
  };
  for (const uint32_t i : added) touch(routes[i].spec, i);
  for (const uint32_t p : removed) touch((*previousRoutes)[p].spec, std::nullopt);
  auto staying = [&](const HostRoutes& bucket, PendingBucket& pending) {
    forEachSlot(bucket, [&](uint32_t slot) {
      if (!freed[slot]) pending.members.push_back(index->routeOfSlot_[slot]);
    });
  };
  if (incremental) {
    for (auto& [key, pending] : exactPending)
      if (auto it = previous->exactHosts_.find(key); it != previous->exactHosts_.end()) staying(*it->second, pending);
    for (auto& [key, pending] : wildcardPending)
      if (auto it = previous->wildcardHosts_.find(key); it != previous->wildcardHosts_.end())
        staying(*it->second, pending);
    if (catchAllPending && previous->catchAll_) staying(*previous->catchAll_, *catchAllPending);
  }

  // Within a bucket: exact paths by map, regex groups in creation order, prefixes by trie;
  // candidates then sorted by the tie-break rules.
  auto precedes = [&](uint32_t slotA, uint32_t slotB) {
    const uint32_t a = index->routeOfSlot_[slotA], b = index->routeOfSlot_[slotB];
    const RouteSpec& x = routes[a].spec;
    const RouteSpec& y = routes[b].spec;
    if (x.methods.empty() != y.methods.empty()) return !x.methods.empty();
    if (x.headers.size() != y.headers.size()) return x.headers.size() > y.headers.size();
    if (x.query.size() != y.query.size()) return x.query.size() > y.query.size();
    return a < b;
  };
  auto addRoute = [&](HostRoutes& bucket, uint32_t i) {
    const RouteSpec& spec = routes[i].spec;
    const uint32_t slot = index->slotOfRoute_[i];
    switch (spec.pathType) {
      case PathMatchType::Exact:
        bucket.exactPaths[router::normalizedSpecPath(spec.path)].push_back(slot);
        break;
      case PathMatchType::RegularExpression: {
        auto group = std::find_if(bucket.regexGroups.begin(), bucket.regexGroups.end(),
                                  [&](const router::RegexGroup& g) { return g.regex->pattern() == spec.path; });
        if (group == bucket.regexGroups.end()) {
          bucket.regexGroups.push_back({index->compiled_[slot]->pathRegex, {slot}});
        } else {
          group->candidates.push_back(slot);
        }
        break;
      }
      case PathMatchType::Prefix: {
        if (bucket.prefixTrie.empty()) bucket.prefixTrie.emplace_back();
        uint32_t node = 0;
        // A prefix's trailing slash is ignored: "/foo/" has the single segment "foo".
        router::forEachSegment(router::normalizedSpecPath(spec.path), [&](std::string_view segment) {
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
        bucket.prefixTrie[node].candidates.push_back(slot);
        break;
      }
    }
  };
  auto makeBucket = [&](std::string key, PendingBucket& pending) -> HostRoutesPtr {
    std::vector<uint32_t>& members = pending.members;
    if (members.empty()) return nullptr;
    std::sort(members.begin(), members.end());  // creation order
    auto bucket = std::make_shared<HostRoutes>();
    bucket->key = std::move(key);
    for (const uint32_t i : members) {
      addRoute(*bucket, i);
      bucket->anyDepthMembers = bucket->anyDepthMembers || routes[i].spec.wildcardAnyDepth;
    }
    for (auto& [path, candidates] : bucket->exactPaths) std::stable_sort(candidates.begin(), candidates.end(), precedes);
    for (router::RegexGroup& group : bucket->regexGroups)
      std::stable_sort(group.candidates.begin(), group.candidates.end(), precedes);
    for (PrefixTrieNode& node : bucket->prefixTrie)
      std::stable_sort(node.candidates.begin(), node.candidates.end(), precedes);
    ++index->stats_.bucketsBuilt;
    return bucket;
  };
  auto assemble = [&](router::HostMap& out, const router::HostMap* before, router::StringMap<PendingBucket>& pending) {
    out.reserve((before ? before->size() : 0) + pending.size());
    if (before) {
      for (const auto& [key, bucket] : *before) {
        if (pending.contains(key)) continue;
        out.emplace(key, bucket);  // the key views the bucket's own string
        ++index->stats_.bucketsShared;
      }
    }
    for (auto& [key, bucketPending] : pending) {
      if (HostRoutesPtr bucket = makeBucket(key, bucketPending)) {
        const std::string_view view = bucket->key;
        out.emplace(view, std::move(bucket));
      }
    }
  };
  assemble(index->exactHosts_, incremental ? &previous->exactHosts_ : nullptr, exactPending);
  assemble(index->wildcardHosts_, incremental ? &previous->wildcardHosts_ : nullptr, wildcardPending);
  for (const auto& [key, bucket] : index->wildcardHosts_)
    index->anyDepthWildcards_ = index->anyDepthWildcards_ || bucket->anyDepthMembers;
  if (catchAllPending) {
    index->catchAll_ = makeBucket(std::string(), *catchAllPending);
  } else if (incremental && previous->catchAll_) {
    index->catchAll_ = previous->catchAll_;
    ++index->stats_.bucketsShared;
  }

  for (const std::string& host : httpsRedirectHosts) index->redirectHosts_.add(host);
  return index;
}

size_t RouteIndex::firstMatching(const CandidateList& candidates, const RequestView& request,
                                 bool anyDepthOnly) const noexcept {
  for (const uint32_t slot : candidates) {
    const router::CompiledRoute& route = *compiled_[slot];
    if (anyDepthOnly && !route.wildcardAnyDepth) continue;
    if (route.conditions.matches(request)) return routeOfSlot_[slot];
  }
  return kNoRoute;
}

size_t RouteIndex::matchIn(const HostRoutes& bucket, std::string_view path, const RequestView& request,
                           bool anyDepthOnly) const noexcept {
  if (!bucket.exactPaths.empty()) {
    if (auto it = bucket.exactPaths.find(path); it != bucket.exactPaths.end()) {
      if (const size_t found = firstMatching(it->second, request, anyDepthOnly); found != kNoRoute) return found;
    }
  }
  for (const router::RegexGroup& group : bucket.regexGroups) {
    if (!re2::RE2::FullMatch(router::piece(path), *group.regex)) continue;
    if (const size_t found = firstMatching(group.candidates, request, anyDepthOnly); found != kNoRoute) {
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
    if (const size_t found = firstMatching(current.candidates, request, anyDepthOnly); found != kNoRoute) {
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
      if (const size_t found = matchIn(*it->second, path, request); found != kNoRoute) return found;
    }
  }
  if (!wildcardHosts_.empty()) {
    bool firstLabel = true;
    for (std::string_view suffix = router::wildcardSuffixOf(host); !suffix.empty();
         suffix = router::wildcardSuffixOf(suffix)) {
      if (auto it = wildcardHosts_.find(suffix);
          it != wildcardHosts_.end() && (firstLabel || it->second->anyDepthMembers)) {
        if (const size_t found = matchIn(*it->second, path, request, !firstLabel); found != kNoRoute) {
          return found;
        }
      }
      if (!anyDepthWildcards_) break;
      firstLabel = false;
    }
  }
  return catchAll_ ? matchIn(*catchAll_, path, request) : kNoRoute;
}

}  // namespace portico::proxy
