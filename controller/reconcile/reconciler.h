// Turns store changes into live tables: waits for the ObjectStore to change, lets a burst
// of events settle (a quiet window, bounded by a maximum delay), renders the snapshot,
// builds and publishes the table, and hands the result on for status. One thread.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <thread>

#include "controller/informer/object_store.h"
#include "controller/render/render.h"
#include "proxy/runtime/metrics.h"
#include "proxy/runtime/table_publisher.h"

namespace portico::controller {

struct ReconcileTiming {
  std::chrono::milliseconds quiet{100};    // publish once no event came for this long
  std::chrono::milliseconds maxDelay{1000};  // ...or once the first pending event is this old
};

class Reconciler {
 public:
  // Called on the reconciler's thread after each render, whether or not it published.
  using OnRendered = std::function<void(const ObjectSnapshot&, const RenderResult&, bool published)>;

  Reconciler(ObjectStore& store, proxy::TablePublisher& publisher, proxy::Metrics& metrics,
             RenderOptions options, OnRendered onRendered, ReconcileTiming timing = {});
  ~Reconciler();
  void start();
  void stop();
  // Every reflector listed once and the first table is live.
  bool ready() const { return ready_.load(); }

 private:
  void run();
  void reconcileOnce();

  ObjectStore& store_;
  proxy::TablePublisher& publisher_;
  proxy::Metrics& metrics_;
  RenderOptions options_;
  OnRendered onRendered_;
  ReconcileTiming timing_;
  std::atomic<bool> stopping_{false};
  std::atomic<bool> ready_{false};
  std::thread thread_;
};

}  // namespace portico::controller
