// Which runtime object, built for an older table, a route of a new table can keep.
//
// The proxy builds per-route objects (compiled policies, each worker's balancer) in lists
// indexed like the table they were built for. A route that did not change holds the very
// spec object of that older table (RouteTable::build shares it), so "can keep" is "built
// for the same spec object". When the older table is the one the new table was built
// from, Route::previousIndex says where: an index and a pointer comparison. When versions
// were skipped in between (a worker idle across two publishes), the entry at the same
// offset as the last one found is tried first (routes keep their order, an insertion or
// removal shifts the rest by one); a route of the same name there on another spec object
// has changed; a hash map from spec address to index is built only when the guess finds
// another route (routes were inserted or removed).
#pragma once

#include <cstdint>
#include <unordered_map>
#include <vector>

#include "proxy/config/route_table.h"

namespace portico::proxy {

class SpecReuse {
 public:
  // `specs[i]`: the spec object old entry i was built for, or nullptr when nothing is
  // kept for it. Every non-null pointer must still be alive (the old entries own their
  // specs), so that a new spec object cannot have the same address. `builtFor`: the
  // version of the table those entries were built for, 0 if none. Both must outlive this.
  SpecReuse(uint64_t builtFor, const std::vector<const RouteSpec*>& specs, const RouteTable& next);

  // The old entry built for `route`'s spec object, or Route::kNoPrevious.
  [[nodiscard]] size_t find(const Route& route);

 private:
  bool at(size_t j, const Route& route) const { return j < specs_.size() && specs_[j] == &route.spec; }

  const std::vector<const RouteSpec*>& specs_;
  enum class Mode { Nothing, Linked, Search } mode_ = Mode::Nothing;
  ptrdiff_t offset_ = 0;  // of the last entry found, from the new route's index
  std::unordered_map<const RouteSpec*, size_t> bySpec_;  // built on the first failed guess
  bool indexed_ = false;                                 // bySpec_ is built
};

}  // namespace portico::proxy
