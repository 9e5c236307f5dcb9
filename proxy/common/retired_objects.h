// Frees objects that left a versioned list, once no list that may still name them is alive.
//
// The proxy keeps per-route objects (compiled policies, a worker's balancers) across table
// versions, and each version's list (TablePolicies, TableRuntime) names them by plain
// pointer, so that building the next list copies pointers and touches no reference count
// per route. Whoever builds the lists owns the objects; one that the newest list no
// longer names is retired here with that list's version, and freed when every older list
// is gone (a request may still pin an old one). Lists are watched through weak_ptrs.
//
// Not thread-safe: one thread, or under its owner's lock. Lists may die on any thread.
#pragma once

#include <cstdint>
#include <deque>
#include <iterator>
#include <memory>
#include <utility>

namespace portico {

template <class T>
class RetiredObjects {
 public:
  // The list of `version` is alive while anything holds it. Usually the newest; an older
  // one (built late for a table that was already replaced) is kept in order too.
  void track(uint64_t version, std::weak_ptr<const void> list) {
    auto at = lists_.end();
    while (at != lists_.begin() && std::prev(at)->first > version) --at;
    lists_.emplace(at, version, std::move(list));
  }

  // `object` is not named by the list of `version`, perhaps by older ones. Versions do
  // not decrease from one call to the next.
  void retire(uint64_t version, std::unique_ptr<T> object) {
    if (object) retired_.emplace_back(version, std::move(object));
  }

  // Frees every retired object that no live list can name: O(lists tracked + objects freed).
  void collect() {
    std::erase_if(lists_, [](const auto& list) { return list.second.expired(); });
    // Lists are tracked in version order; an object retired at version v is named only by
    // lists older than v.
    const uint64_t oldest = lists_.empty() ? UINT64_MAX : lists_.front().first;
    while (!retired_.empty() && retired_.front().first <= oldest) retired_.pop_front();
  }

  size_t pending() const { return retired_.size(); }

 private:
  std::deque<std::pair<uint64_t, std::weak_ptr<const void>>> lists_;
  std::deque<std::pair<uint64_t, std::unique_ptr<T>>> retired_;  // in version order
};

}  // namespace portico
