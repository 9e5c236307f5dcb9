#include "proxy/runtime/table_publisher.h"

#include <algorithm>
#include <iterator>

namespace portico::proxy {

void TablePublisher::publish(RouteTableConstSharedPtr table) {
  const uint64_t version = table->version();
  std::vector<RouteTableConstSharedPtr> unused;
  {
    std::lock_guard lock(mu_);
    // Only current() hands out references, and only to table_: a retired table whose
    // count is 1 has no user left and cannot get one.
    auto inUse = std::partition(retired_.begin(), retired_.end(),
                                [](const RouteTableConstSharedPtr& t) { return t.use_count() > 1; });
    std::move(inUse, retired_.end(), std::back_inserter(unused));
    retired_.erase(inUse, retired_.end());
    if (table_) retired_.push_back(std::move(table_));
    table_ = std::move(table);
  }
  // Released after the pointer is stored, so a reader that sees the new version under
  // acquire also finds the new table under the mutex.
  version_.store(version, std::memory_order_release);
  // `unused` is freed here, on this thread and outside the lock.
}

RouteTableConstSharedPtr TablePublisher::current() const {
  std::lock_guard lock(mu_);
  return table_;
}

}  // namespace portico::proxy
