// The admin listener: /healthz, /readyz, /metrics (Prometheus text), /routes (JSON of the
// live table). Runs on its own thread so a busy data plane never hides its health.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace portico::proxy {

class TablePublisher;
class Metrics;
class UpstreamRegistry;

class AdminServer {
 public:
  // `ready` decides /readyz beyond "a table is live" (e.g. informers synced).
  AdminServer(std::string address, uint16_t port, const TablePublisher& tables, const Metrics& metrics,
              const UpstreamRegistry& upstreams, std::function<bool()> ready);
  ~AdminServer();
  void start();  // binds (throws naming the address on failure) and starts the thread
  void stop();

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace portico::proxy
