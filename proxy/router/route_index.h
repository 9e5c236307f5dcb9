// RouteIndex: the compiled lookup structures behind RouteTable::match. Internal to
// RouteTable (route_table.h forward-declares it); nothing else should need it.
//
// Lookup, in order, stopping at the first route whose every condition holds:
//   1. Host bucket: the exact host (hash map), then the wildcard bucket keyed by the host
//      without its first label ("*.example.com" <- "foo.example.com"), then, for routes
//      whose wildcards cover any depth, the buckets of the shorter suffixes, longest first
//      ("*.example.com" <- "a.foo.example.com"), then the catch-all bucket (routes with no
//      hosts). If no route of a bucket matches the request, the next bucket is tried
//      (Gateway API-like fall-through).
//   2. Inside a bucket, by path type:
//      a. Exact: hash map from the normalized path to its candidates.
//      b. RegularExpression: every regex route of the bucket, in creation order (routes
//         with the same regex are tried in tie-break order, see 3); RE2 full match.
//      c. Prefix: a trie of path segments. The request's segments are walked down as far
//         as the trie goes, then nodes are tried from that deepest one back to the root
//         ("/"), so the longest element-wise prefix wins.
//   3. Candidates with the same path type and value are pre-sorted at build time:
//      a route that lists methods before one that doesn't, then more header matches first,
//      then more query matches first, then creation order (index in spec.routes).
//   Method, header and query conditions are checked on each candidate in that order.
//
// Matching never allocates and never throws: string_view segments, transparent hashing,
// query parameters decoded and compared in place. RequestView implementations must not
// throw either: match() is noexcept.
//
// Built from the previous table's index, the work follows the change (a swap at 10,000
// routes with one edited route must not rebuild 10,000 buckets). Each route is compiled
// once (its conditions and regular expressions: a CompiledRoute) into a *slot* it keeps
// while its spec object stays the same; buckets list slots, not table positions, so a
// route that moves in the table (another one was inserted or removed before it) leaves
// its buckets valid. A build recompiles the new and changed routes only, rebuilds only
// the buckets of hosts that one of them has or had, and shares every other bucket with
// the previous index. Precondition for that: routes kept from the previous table keep
// their relative order (render assembles in creation order); when they do not, the
// build starts from nothing.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "proxy/common/expected.h"
#include "proxy/config/route_table.h"
#include "proxy/router/host_set.h"

namespace re2 {
class RE2;
}

namespace portico::proxy {

namespace router {

// Slots (see above) of the candidate routes, best first.
using CandidateList = std::vector<uint32_t>;

// The conditions of one route besides host and path.
struct RouteConditions {
  struct Header {
    std::string name;  // lower case
    HeaderMatchType type = HeaderMatchType::Exact;
    std::string value;
    const re2::RE2* regex = nullptr;  // RegularExpression only; owned by the CompiledRoute
  };
  std::vector<std::string> methods;
  std::vector<Header> headers;
  std::vector<QueryMatch> query;
  std::vector<std::string> localAddresses;

  [[nodiscard]] bool matches(const RequestView& request) const noexcept;
};

// What a route compiles to, once per spec object; shared by the indexes of every table
// that holds that object.
struct CompiledRoute {
  RouteConditions conditions;
  bool wildcardAnyDepth = false;  // RouteSpec::wildcardAnyDepth
  const re2::RE2* pathRegex = nullptr;  // RegularExpression paths only
  std::vector<std::unique_ptr<re2::RE2>> regexes;  // owns pathRegex and the header regexes
  ~CompiledRoute();
};

struct PrefixTrieNode {
  static constexpr uint32_t kNoParent = UINT32_MAX;
  StringMap<uint32_t> children;  // segment -> node index
  uint32_t parent = kNoParent;
  CandidateList candidates;  // Prefix routes whose prefix ends at this node
};

struct RegexGroup {
  const re2::RE2* regex = nullptr;  // the first route's; the others have the same pattern
  CandidateList candidates;
};

// The routes of one host bucket. Immutable once built; shared between indexes.
struct HostRoutes {
  std::string key;  // what the bucket is stored under (its map's keys are views of it)
  StringMap<CandidateList> exactPaths;
  std::vector<PrefixTrieNode> prefixTrie;  // empty, or [0] is the root "/"
  std::vector<RegexGroup> regexGroups;     // by creation order of the group's first route
  bool anyDepthMembers = false;  // a wildcard bucket holding a wildcardAnyDepth route
};
using HostRoutesPtr = std::shared_ptr<const HostRoutes>;
using HostMap = std::unordered_map<std::string_view, HostRoutesPtr, StringHash, std::equal_to<>>;

// Splits a path into its non-empty '/'-separated segments, calling f(segment).
template <class F>
void forEachSegment(std::string_view path, F&& f) {
  size_t pos = 0;
  while (pos < path.size()) {
    size_t end = path.find('/', pos);
    if (end == std::string_view::npos) end = path.size();
    if (end > pos) f(path.substr(pos, end - pos));
    pos = end + 1;
  }
}

}  // namespace router

class RouteIndex {
 public:
  static constexpr size_t kNoRoute = SIZE_MAX;

  // Compiles the lookup structures for `routes` (whose hosts are already lower case).
  // Fails, naming the route and the field, on an invalid regular expression.
  //
  // `previous`, if given, is the index of the table that the routes' previousIndex refers
  // to, and `previousRoutes` that table's routes; both are only read, and must stay alive
  // during the call.
  [[nodiscard]] static Expected<std::unique_ptr<RouteIndex>> build(
      const std::vector<Route>& routes, const std::vector<std::string>& httpsRedirectHosts,
      const RouteIndex* previous = nullptr, const std::vector<Route>* previousRoutes = nullptr);

  ~RouteIndex();
  RouteIndex(const RouteIndex&) = delete;
  RouteIndex& operator=(const RouteIndex&) = delete;

  // The index of the best route, or kNoRoute. Any thread.
  [[nodiscard]] size_t match(const RequestView& request) const noexcept;

  // Any thread.
  [[nodiscard]] bool redirectsToHttps(std::string_view host) const noexcept {
    return redirectHosts_.contains(host);
  }

  // How much of the previous index the last build shared (tests and benchmarks).
  struct BuildStats {
    size_t compiled = 0;        // routes compiled by this build
    size_t bucketsBuilt = 0;    // host buckets (the catch-all counts) built by this build
    size_t bucketsShared = 0;   // taken over from the previous index
  };
  const BuildStats& buildStats() const noexcept { return stats_; }

 private:
  RouteIndex() = default;
  // anyDepthOnly: the bucket was reached through a suffix deeper than the first label, so
  // only wildcardAnyDepth routes may match.
  size_t matchIn(const router::HostRoutes& bucket, std::string_view path, const RequestView& request,
                 bool anyDepthOnly = false) const noexcept;
  size_t firstMatching(const router::CandidateList& candidates, const RequestView& request,
                       bool anyDepthOnly) const noexcept;

  std::vector<std::shared_ptr<const router::CompiledRoute>> compiled_;  // by slot; null = free
  std::vector<uint32_t> routeOfSlot_;  // slot -> route index, UINT32_MAX for a free slot
  std::vector<uint32_t> slotOfRoute_;  // route index -> slot
  router::HostMap exactHosts_;
  router::HostMap wildcardHosts_;  // keyed by the suffix after "*."
  bool anyDepthWildcards_ = false;  // one of wildcardHosts_ has anyDepthMembers
  router::HostRoutesPtr catchAll_;  // may be null
  router::HostSet redirectHosts_;
  BuildStats stats_;
};

}  // namespace portico::proxy
