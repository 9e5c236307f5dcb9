// Turns store changes into live tables: waits for the ObjectStore to change, renders the
// snapshot (incrementally: IncrementalRenderer re-renders only what changed), builds and
// publishes the table, and hands the result on for status. One thread.
// When to render is RenderScheduler's rule: the first change after a quiet period renders at
// once; changes that arrive during a render are coalesced into one render right after it.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <thread>

#include "controller/informer/object_store.h"
#include "controller/reconcile/render_scheduler.h"
#include "controller/render/incremental.h"
#include "controller/render/render.h"
#include "proxy/runtime/metrics.h"
#include "proxy/runtime/table_publisher.h"

namespace portico::controller {

struct ReconcileTiming {
  // Least time between the starts of two renders (see RenderScheduler); 0: none.
  std::chrono::milliseconds minInterval{0};
  // Debug check: after every incremental render, render everything again and log an error
  // if the two differ (then the full result is published). Doubles render CPU.
  bool checkIncremental = false;
  // After this long without a render, hand the heap's free pages back to the system
  // (malloc_trim): renders free as much as they allocate, but the holes they leave across
  // the allocator's per-thread arenas would otherwise stay in RSS. 0: never.
  std::chrono::milliseconds releaseMemoryAfter{1000};
  // What releasing does; empty: malloc_trim(0). Tests count the calls.
  std::function<void()> releaseMemory;
};

class Reconciler {
 public:
  // Called on the reconciler's thread after each render, whether or not it published.
  // The next render cannot start before it returns (changes meanwhile are coalesced).
  using OnRendered = std::function<void(const StoreSnapshot&, const RenderReport&, bool published)>;

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
  IncrementalRenderer renderer_;
  std::atomic<bool> stopping_{false};
  std::atomic<bool> ready_{false};
  std::thread thread_;
};

}  // namespace portico::controller
