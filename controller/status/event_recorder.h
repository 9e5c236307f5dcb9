// Turns render diagnostics into core/v1 Events (type Warning) on the objects they are
// about, without re-posting the same finding on every render.
//
// Deduplication key: (object uid, reason, message); the object's kind/namespace/name stands
// in for a missing uid. A finding is posted once while it persists. When it disappears and
// later comes back, or when it has persisted for `refresh` (Events expire after the API
// server's --event-ttl, 1 h by default), the existing Event gets count+1 and a new
// lastTimestamp via a merge PATCH (a new Event is created if that one expired).
//
// Not thread-safe: used by the StatusWriter's thread only.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "controller/kube/kube_client.h"
#include "controller/render/render.h"
#include "controller/status/kube_time.h"

namespace portico::controller {

struct EventRecorderOptions {
  std::string component = "portico";                                  // source.component
  std::string reportingController = "portico.dev/ingress-controller";  // reportingComponent
  std::string reportingInstance;                                      // e.g. the leader identity
  std::chrono::milliseconds refresh{std::chrono::minutes(30)};
  std::function<WallClock::time_point()> now;  // default: system clock
};

// What a batch of writes came to.
struct WriteTally {
  int writes = 0;         // successful create/update/patch requests
  int retryable = 0;      // failed for a reason worth retrying (transport, 5xx, 429)
  bool notLeader = false; // stopped early: leadership lost
};

class EventRecorder {
 public:
  EventRecorder(KubeClient& client, EventRecorderOptions options);

  // `objects` supplies uid, resourceVersion and apiVersion of the involved objects.
  // Checks isLeader() right before every request and stops when it turns false.
  void record(const std::vector<Diagnostic>& diagnostics, const StoreSnapshot& objects,
              const std::function<bool()>& isLeader, WriteTally& tally);

  size_t trackedForTest() const { return seen_.size(); }

 private:
  struct Seen {
    std::string ns;
    std::string eventName;
    int64_t count = 1;
    std::string firstTimestamp;
    std::chrono::steady_clock::time_point lastWritten;
    bool active = false;  // present in the latest diagnostics
  };

  bool create(const Diagnostic& d, const nlohmann::json& involved, const std::string& key, WriteTally& tally);
  WallClock::time_point now() const;

  KubeClient& client_;
  EventRecorderOptions options_;
  std::map<std::string, Seen> seen_;
  uint64_t sequence_ = 0;
};

// The involvedObject reference for `ref`, filled from the snapshot when the object is in it.
nlohmann::json involvedObjectFor(const ObjectRef& ref, const StoreSnapshot& objects);

}  // namespace portico::controller
