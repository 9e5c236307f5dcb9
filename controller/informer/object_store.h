// The controller's cache of watched objects, per kind, filled by reflectors and read by
// the reconciler as whole snapshots. A relist replaces a kind's objects in one step, so a
// snapshot never sees half of a relist.
#pragma once

#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "controller/render/render.h"

namespace portico::controller {

enum class Kind { Ingress, IngressClass, Service, EndpointSlice, Secret, APIRoute };
constexpr Kind kAllKinds[] = {Kind::Ingress, Kind::IngressClass, Kind::Service,
                              Kind::EndpointSlice, Kind::Secret, Kind::APIRoute};
const char* kindName(Kind kind);

class ObjectStore {
 public:
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
  ObjectSnapshot snapshot() const;
  // Waits until the generation differs from `seen` or `timeout` passes; returns it.
  uint64_t waitForChange(uint64_t seen, std::chrono::milliseconds timeout) const;
  // When the last change arrived (for event-to-live latency).
  std::chrono::steady_clock::time_point lastChange() const;

 private:
  static std::string keyOf(const nlohmann::json& object);
  void changed();  // with mu_ held

  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  std::map<Kind, std::map<std::string, nlohmann::json>> objects_;
  std::set<std::pair<Kind, std::string>> pending_;  // expected but not listed yet
  uint64_t generation_ = 0;
  std::chrono::steady_clock::time_point lastChange_{};
};

}  // namespace portico::controller
