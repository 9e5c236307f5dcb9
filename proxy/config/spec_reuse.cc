#include "proxy/config/spec_reuse.h"

namespace portico::proxy {

SpecReuse::SpecReuse(uint64_t builtFor, const std::vector<const RouteSpec*>& specs, const RouteTable& next)
    : specs_(specs) {
  // A table built without a previous one shares no spec object with anything.
  if (builtFor == 0 || specs.empty() || next.previousVersion() == 0) return;
  mode_ = builtFor == next.previousVersion() ? Mode::Linked : Mode::Search;
}

size_t SpecReuse::find(const Route& route) {
  switch (mode_) {
    case Mode::Nothing:
      return Route::kNoPrevious;
    case Mode::Linked:
      return at(route.previousIndex, route) ? route.previousIndex : Route::kNoPrevious;
    case Mode::Search:
      break;
  }
  const size_t guess = static_cast<size_t>(static_cast<ptrdiff_t>(route.index) + offset_);
  if (at(guess, route)) return guess;
  // build shares a spec object only between routes of the same name: the same name on a
  // different object means the route changed, and no other entry can be its.
  if (guess < specs_.size() && specs_[guess] && specs_[guess]->name == route.spec.name) return Route::kNoPrevious;
  if (offset_ != 0 && at(route.index, route)) {
    offset_ = 0;
    return route.index;
  }
  if (!indexed_) {  // once: the map may well be empty (no entry built)
    indexed_ = true;
    bySpec_.reserve(specs_.size());
    for (size_t i = 0; i < specs_.size(); ++i)
      if (specs_[i]) bySpec_.emplace(specs_[i], i);
  }
  const auto it = bySpec_.find(&route.spec);
  if (it == bySpec_.end()) return Route::kNoPrevious;
  offset_ = static_cast<ptrdiff_t>(it->second) - static_cast<ptrdiff_t>(route.index);
  return it->second;
}

}  // namespace portico::proxy
