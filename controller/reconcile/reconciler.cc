#include "controller/reconcile/reconciler.h"

#include <algorithm>

#include <malloc.h>

#include <spdlog/spdlog.h>

#include "controller/render/spec_json.h"

namespace portico::controller {

using Clock = std::chrono::steady_clock;

Reconciler::Reconciler(ObjectStore& store, proxy::TablePublisher& publisher, proxy::Metrics& metrics,
                       RenderOptions options, OnRendered onRendered, ReconcileTiming timing)
    : store_(store), publisher_(publisher), metrics_(metrics), options_(std::move(options)),
      onRendered_(std::move(onRendered)), timing_(timing), renderer_(options_) {}

Reconciler::~Reconciler() { stop(); }

void Reconciler::start() { thread_ = std::thread([this] { run(); }); }

void Reconciler::stop() {
  stopping_ = true;
  if (thread_.joinable()) thread_.join();
}

void Reconciler::run() {
  // The wait is bounded so that stop() is noticed.
  constexpr auto kPoll = std::chrono::milliseconds(200);
  RenderScheduler scheduler(timing_.minInterval);
  auto releaseAt = Clock::time_point::max();  // once quiet after a render
  while (!stopping_) {
    if (!store_.synced()) {  // the last initial list arrives as a change
      scheduler.changed(store_.waitForChange(scheduler.seen(), kPoll));
      continue;
    }
    const auto now = Clock::now();
    if (!scheduler.startRender(now)) {
      if (now >= releaseAt) {
        releaseAt = Clock::time_point::max();
        if (timing_.releaseMemory) {
          timing_.releaseMemory();
        } else {
          malloc_trim(0);  // a few ms at 10,000 objects, off every latency path
        }
      }
      const auto due = std::min(scheduler.nextDue(), releaseAt);
      auto timeout = kPoll;
      if (due != Clock::time_point::max())
        timeout = std::clamp(std::chrono::ceil<std::chrono::milliseconds>(due - now),
                             std::chrono::milliseconds(0), kPoll);
      scheduler.changed(store_.waitForChange(scheduler.seen(), timeout));
      continue;
    }
    // Read before the snapshot: a change in between is in the snapshot and renders once more,
    // harmlessly; reading it after could mark a change rendered that the snapshot missed.
    const uint64_t covered = store_.generation();
    reconcileOnce();
    scheduler.finishRender(covered);
    if (timing_.releaseMemoryAfter.count() > 0) releaseAt = Clock::now() + timing_.releaseMemoryAfter;
  }
}

void Reconciler::reconcileOnce() {
  const auto changedAt = store_.lastChange();
  const StoreSnapshot snapshot = store_.snapshot();  // shares the store's objects: no copy
  const auto renderStart = Clock::now();
  const SharedRenderResult* rendered = &renderer_.render(snapshot);
  const auto renderTime = Clock::now() - renderStart;
  SharedRenderResult full;
  if (timing_.checkIncremental) {
    RenderResult fresh = render(snapshot, options_);
    if (toJson(fresh.table, true) != toJson(rendered->table, true) ||
        toJson(fresh.diagnostics) != toJson(rendered->diagnostics) ||
        fresh.ownedIngresses.size() != rendered->ownedIngresses.size()) {
      spdlog::error("incremental render differs from a full render; publishing the full one and starting over");
      renderer_.reset();
      static_cast<RenderReport&>(full) = std::move(fresh);
      full.table = proxy::shareRoutes(std::move(fresh.table));
      rendered = &full;
    }
  }
  const SharedRenderResult& result = *rendered;
  const size_t routes = result.table.routes.size();
  // From the published table: unchanged routes keep their spec objects, and the workers
  // their runtime (a swap then costs in proportion to the change).
  auto table = proxy::RouteTable::build(result.table, publisher_.version() + 1, publisher_.current().get());
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
    const auto& stats = renderer_.lastStats();
    spdlog::info("published table version {}: {} routes, {} diagnostics, rendered in {} us ({} objects rendered, "
                 "{} re-settled)", version, routes, result.diagnostics.size(),
                 std::chrono::duration_cast<std::chrono::microseconds>(renderTime).count(), stats.rendered,
                 stats.settled);
  }
  for (const auto& d : result.diagnostics) spdlog::warn("{}: {}", d.object.toString(), d.message);
  if (onRendered_) onRendered_(snapshot, result, published);
}

}  // namespace portico::controller
