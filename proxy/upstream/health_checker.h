// Active HTTP health checks, once per process: one thread with its own io_context probes
// every endpoint of every route that configures a healthCheck and writes the verdict into
// the shared EndpointState, which all workers read. It follows the newest routing table
// (probes start and stop as endpoints come and go) and also sweeps the upstream registry,
// so state of endpoints that left the table is freed once no worker uses it.
#pragma once

#include <memory>

namespace portico::proxy {

class TablePublisher;
class UpstreamRegistry;

class HealthChecker {
 public:
  HealthChecker(const TablePublisher& tables, UpstreamRegistry& registry);
  ~HealthChecker();
  void start();
  void stop();

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace portico::proxy
