#include "proxy/runtime/table_publisher.h"

namespace portico::proxy {

void TablePublisher::publish(RouteTableConstSharedPtr table) {
  const uint64_t version = table->version();
  {
    std::lock_guard lock(mu_);
    table_ = std::move(table);
  }
  // Released after the pointer is stored, so a reader that sees the new version under
  // acquire also finds the new table under the mutex.
  version_.store(version, std::memory_order_release);
}

RouteTableConstSharedPtr TablePublisher::current() const {
  std::lock_guard lock(mu_);
  return table_;
}

}  // namespace portico::proxy
