#include "controller/reconcile/reconciler.h"

#include <spdlog/spdlog.h>

namespace portico::controller {

using Clock = std::chrono::steady_clock;

Reconciler::Reconciler(ObjectStore& store, proxy::TablePublisher& publisher, proxy::Metrics& metrics,
                       RenderOptions options, OnRendered onRendered, ReconcileTiming timing)
    : store_(store), publisher_(publisher), metrics_(metrics), options_(std::move(options)),
      onRendered_(std::move(onRendered)), timing_(timing) {}

Reconciler::~Reconciler() { stop(); }

void Reconciler::start() { thread_ = std::thread([this] { run(); }); }

void Reconciler::stop() {
  stopping_ = true;
  if (thread_.joinable()) thread_.join();
}

void Reconciler::run() {
  uint64_t rendered = 0;  // store generation of the last render
  while (!stopping_) {
    uint64_t generation = store_.waitForChange(rendered, std::chrono::milliseconds(200));
    if (generation == rendered || !store_.synced()) continue;
    // Coalesce: keep waiting while events still arrive, up to maxDelay.
    const auto firstSeen = Clock::now();
    for (;;) {
      const auto next = store_.waitForChange(generation, timing_.quiet);
      if (next == generation || Clock::now() - firstSeen >= timing_.maxDelay || stopping_) break;
      generation = next;
    }
    generation = store_.generation();
    reconcileOnce();
    rendered = generation;
  }
}

void Reconciler::reconcileOnce() {
  const auto changedAt = store_.lastChange();
  const ObjectSnapshot snapshot = store_.snapshot();
  const auto renderStart = Clock::now();
  RenderResult result = render(snapshot, options_);
  const auto renderTime = Clock::now() - renderStart;
  const size_t routes = result.table.routes.size();
  auto table = proxy::RouteTable::build(result.table, publisher_.version() + 1);
  bool published = false;
  if (!table) {
    // render validates what build checks; reaching this is a render bug, so the last
    // good table stays and the reason is logged.
    spdlog::error("routing table rejected, keeping version {}: {}", publisher_.version(), table.error().message);
    metrics_.recordReload(false);
  } else {
    const uint64_t version = (*table)->version();
    publisher_.publish(std::move(*table));
    metrics_.setTableVersion(version);
    metrics_.recordReload(true);
    metrics_.recordPublishLatency(Clock::now() - changedAt);
    published = true;
    ready_ = true;
    spdlog::info("published table version {}: {} routes, {} diagnostics, rendered in {} us", version, routes,
                 result.diagnostics.size(),
                 std::chrono::duration_cast<std::chrono::microseconds>(renderTime).count());
  }
  for (const auto& d : result.diagnostics) spdlog::warn("{}: {}", d.object.toString(), d.message);
  if (onRendered_) onRendered_(snapshot, result, published);
}

}  // namespace portico::controller
