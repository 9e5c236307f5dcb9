// Publishes immutable routing tables from the controller to the workers.
//
// The controller calls publish(); each worker keeps a TableCache and calls refresh()
// between requests. The steady-state cost on the request path is one acquire load of
// the version counter; the mutex is taken only after the version moved, once per worker
// per publish. A request keeps the shared_ptr it started with, so in-flight requests
// finish on the old table.
//
// Replaced tables are freed by the publishing thread, not by whichever worker or request
// lets go last: freeing a table of 10,000 routes (its lookup structures, one node per
// route and host) takes milliseconds, which a worker would spend between two requests.
// The publisher keeps each replaced table until a later publish finds it holds the only
// reference, so a table outlives its last user by at most one publish.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <vector>

#include "proxy/config/route_table.h"

namespace portico::proxy {

class TablePublisher {
 public:
  // Any thread. Tables must come with increasing versions.
  void publish(RouteTableConstSharedPtr table);
  // Any thread; 0 until the first publish.
  uint64_t version() const noexcept { return version_.load(std::memory_order_acquire); }
  // Any thread; nullptr until the first publish.
  RouteTableConstSharedPtr current() const;

 private:
  mutable std::mutex mu_;
  RouteTableConstSharedPtr table_;
  std::vector<RouteTableConstSharedPtr> retired_;  // replaced, perhaps still in use
  std::atomic<uint64_t> version_{0};
};

// One per worker thread, never shared.
class TableCache {
 public:
  explicit TableCache(const TablePublisher& publisher) : publisher_(publisher) {}
  // Returns the newest table (nullptr before the first publish). Worker thread only.
  const RouteTableConstSharedPtr& refresh() {
    if (publisher_.version() != seen_) {
      table_ = publisher_.current();
      seen_ = table_ ? table_->version() : 0;
    }
    return table_;
  }

 private:
  const TablePublisher& publisher_;
  RouteTableConstSharedPtr table_;
  uint64_t seen_ = 0;
};

}  // namespace portico::proxy
