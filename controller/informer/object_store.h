// The controller's cache of watched objects, per kind, filled by reflectors and read by
// the reconciler as whole snapshots. A relist replaces a kind's objects in one step, so a
// snapshot never sees half of a relist.
//
// Objects are stored as immutable shared objects and a snapshot shares them (see
// StoreSnapshot): taking one costs a few pointer copies. When the store changes a kind
// that a snapshot holds, it copies that kind's map, which shares its chunks with the
// original (ObjectMap): the cost is the list of chunk pointers plus the chunk changed,
// never the objects.
#pragma once

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "controller/objects/object_snapshot.h"

namespace portico::controller {

class ObjectStore {
 public:
  ObjectStore();

  // Reflector threads. `scope` is the namespace a reflector lists ("" = all), so that
  // several namespaced reflectors of one kind replace only their own objects.
  void replace(Kind kind, const std::string& scope, std::vector<nlohmann::json> items);
  void upsert(Kind kind, nlohmann::json object);
  void remove(Kind kind, const nlohmann::json& object);
  // Registers a reflector that must list once before the store counts as synced.
  void expect(Kind kind, const std::string& scope);

  // Any thread.
  uint64_t generation() const;
  bool synced() const;
  StoreSnapshot snapshot() const;
  // Waits until the generation differs from `seen` or `timeout` passes; returns it.
  uint64_t waitForChange(uint64_t seen, std::chrono::milliseconds timeout) const;
  // When the last change arrived (for event-to-live latency).
  std::chrono::steady_clock::time_point lastChange() const;

 private:
  void changed();  // with mu_ held
  // The kind's map, unshared (copied if a snapshot still holds it). With mu_ held.
  ObjectMap& mutableMap(Kind kind);
  SliceIndex& mutableSlices();
  // Keeps the slice index in step when an EndpointSlice is replaced or removed.
  void indexSlice(const ObjectPtr& before, const ObjectPtr& after);

  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  StoreSnapshot current_;
  std::set<std::pair<Kind, std::string>> pending_;  // expected but not listed yet
  uint64_t generation_ = 0;
  std::chrono::steady_clock::time_point lastChange_{};
};

}  // namespace portico::controller
